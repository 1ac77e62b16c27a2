#ifndef ASTRA_CSYSTEMD_SHIM_H
#define ASTRA_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
