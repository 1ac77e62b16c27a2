#define _GNU_SOURCE
#include "process_control.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/prctl.h>

int astra_set_dumpable(int value) {
    return prctl(PR_SET_DUMPABLE, (unsigned long)value, 0UL, 0UL, 0UL);
}

int astra_get_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
}

int astra_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}
