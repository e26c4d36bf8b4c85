/*
 * Snapshots: what a paused VM is made of, and who saves each part.
 *
 * A snapshot directory holds
 *   state     the state file (snapshot_file.h): the sections below;
 *   memory    guest RAM, byte for byte, sparse: pages that were never
 *             touched or are all zero are holes;
 *   disk<N>   a copy of each writable disk as it was at the pause
 *             (read-only disks are named and identified, not copied).
 *
 * Every owner of state saves and restores its own sections, with one
 * pair of calls each:
 *
 *   int X_save(..., struct snap_builder *b, char *why, size_t why_size);
 *   int X_restore(..., const struct snap_index *idx, char *why,
 *                 size_t why_size);
 *
 * Both return 0 or -errno, with why saying what went wrong. A restore
 * checks every length and value of its sections before it touches the
 * VM, and refuses (-EINVAL) a section that is missing, short, or out of
 * range: the CRCs catch corruption, but a bug or a hostile file with good
 * CRCs must still not become device state the code cannot handle.
 * Payloads are packed little-endian fields (snapshot_wire.h), never raw
 * structs of our own; raw KVM structs are fine, they are the kernel's
 * ABI and have fixed layouts.
 *
 * The order of a restore is the order of run(): vm, memory, irqchip
 * (then its state), devices (then theirs), vCPUs (CPUID first, then
 * their state), and the clock last, just before the vCPUs run.
 */
#ifndef AGENTBOX_SNAPSHOT_H
#define AGENTBOX_SNAPSHOT_H

#include "snapshot_file.h"

#define SNAP_STATE_NAME		"state"
#define SNAP_MEMORY_NAME	"memory"

/* The machine: loader version, RAM size, vCPU count, CPUID, command line. */
#define SNAP_SEC_MACHINE	SNAP_TAG('M', 'A', 'C', 'H')
/* One per disk (instance = disk index): path, size, identity. */
#define SNAP_SEC_DISK		SNAP_TAG('D', 'I', 'S', 'K')
/* Guest RAM: the memory file's length and which pages it holds. */
#define SNAP_SEC_MEMORY		SNAP_TAG('M', 'E', 'M', ' ')

/* vcpu_state.c, instance = vCPU id. */
#define SNAP_SEC_VCPU		SNAP_TAG('V', 'C', 'P', 'U')
/* irq.c: PIC master, PIC slave, IOAPIC (KVM_GET_IRQCHIP), and the PIT. */
#define SNAP_SEC_IRQCHIP	SNAP_TAG('I', 'R', 'Q', 'C')
#define SNAP_SEC_PIT		SNAP_TAG('P', 'I', 'T', '2')
/* vm.c: kvmclock (KVM_GET_CLOCK). */
#define SNAP_SEC_CLOCK		SNAP_TAG('C', 'L', 'C', 'K')

/* Devices. */
#define SNAP_SEC_SERIAL		SNAP_TAG('U', 'A', 'R', 'T')
/* One per virtio-mmio window (instance = virtio device index). */
#define SNAP_SEC_VIRTIO_MMIO	SNAP_TAG('V', 'M', 'I', 'O')
#define SNAP_SEC_VIRTIO_BLK	SNAP_TAG('V', 'B', 'L', 'K')
#define SNAP_SEC_VSOCK		SNAP_TAG('V', 'S', 'C', 'K')

#endif /* AGENTBOX_SNAPSHOT_H */
