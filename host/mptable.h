#ifndef AGENTBOX_MPTABLE_H
#define AGENTBOX_MPTABLE_H

#include <stddef.h>

#include "guest_mem.h"

/*
 * MP tables carry 8-bit APIC ids; the IOAPIC takes id nr_cpus and 0xff
 * means broadcast.
 */
#define MPTABLE_MAX_CPUS	254

/* Bytes the floating pointer plus configuration table take. */
size_t mptable_size(unsigned int nr_cpus);

/*
 * Write the MP floating pointer and configuration table for nr_cpus vCPUs
 * (APIC ids 0..nr_cpus-1, cpu 0 the BSP) and one IOAPIC to
 * LAYOUT_MPTABLE_ADDR. -EINVAL for no vCPUs, -E2BIG for too many, -EFAULT
 * if guest RAM does not cover the table.
 */
int mptable_write(struct guest_mem *gm, unsigned int nr_cpus);

#endif /* AGENTBOX_MPTABLE_H */
