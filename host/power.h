/*
 * The exit port (EXIT_PORT in agentbox-abi.h): the guest init writes its
 * exit status there as its last act, and the VM ends with that status.
 */
#ifndef AGENTBOX_POWER_H
#define AGENTBOX_POWER_H

#include "bus.h"
#include "stop.h"

/* The device is the struct stop the write ends. */
extern const struct bus_ops power_bus_ops;

#endif /* AGENTBOX_POWER_H */
