#ifndef ASTRA_PROCESS_CONTROL_H
#define ASTRA_PROCESS_CONTROL_H

/// prctl(PR_SET_DUMPABLE, value): 0 makes the process non-dumpable, so a process of the same
/// user (a stdio child) cannot read its /proc/<pid>/environ, mem or fd, nor ptrace it.
/// Returns 0, or -1 with errno set. (prctl is variadic, which Swift cannot call.)
int astra_set_dumpable(int value);

/// prctl(PR_GET_DUMPABLE): 1 when dumpable, 0 when not, -1 on error.
int astra_get_dumpable(void);

/// pipe2(fds, O_CLOEXEC): a pipe no child inherits unless it is given an end explicitly (by dup2).
/// Returns 0, or -1 with errno set. (Glibc's Swift module hides pipe2 behind _GNU_SOURCE.)
int astra_pipe_cloexec(int fds[2]);

#endif
