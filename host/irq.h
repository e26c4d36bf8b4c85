/*
 * Interrupt lines. Devices only know a struct irq_line; in the VMM it
 * drives the in-kernel PIC and IOAPIC through KVM_IRQ_LINE, in tests a
 * recorder. Devices raise a line when they have something pending and
 * lower it when the guest has taken it, so edge-triggered pins (all of
 * ours are ISA, edge, per the MP table) see exactly one rising edge per
 * batch of work.
 */
#ifndef AGENTBOX_IRQ_H
#define AGENTBOX_IRQ_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot_file.h"

struct irq_line {
	int (*set)(void *ctx, unsigned int gsi, bool level);
	void *ctx;
	unsigned int gsi;
};

static inline int irq_line_set(const struct irq_line *l, bool level)
{
	return l->set ? l->set(l->ctx, l->gsi, level) : 0;
}

/* KVM_CREATE_IRQCHIP (PIC + IOAPIC + LAPICs) then KVM_CREATE_PIT2. */
int irq_create(int vm_fd, char *why, size_t why_size);

/*
 * The irqchip's and PIT's snapshot: SNAP_SEC_IRQCHIP instances 0, 1, 2
 * (PIC master, PIC slave, IOAPIC), each a raw struct kvm_irqchip whose
 * chip_id is its instance, and SNAP_SEC_PIT, a raw struct
 * kvm_pit_state2. Restore after irq_create(), before the vCPUs run; it
 * checks all four sections before it sets any.
 */
int irq_save(int vm_fd, struct snap_builder *b, char *why, size_t why_size);
int irq_restore(int vm_fd, const struct snap_index *idx, char *why,
		size_t why_size);

/* A line backed by KVM_IRQ_LINE on vm_fd (which must outlive it). */
void irq_line_kvm(struct irq_line *l, int *vm_fd, unsigned int gsi);

#endif /* AGENTBOX_IRQ_H */
