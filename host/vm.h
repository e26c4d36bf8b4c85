/*
 * The VM: /dev/kvm checked up front (API version, every capability we
 * rely on, from one table), the VM fd with its TSS and identity-map pages,
 * and guest RAM as two memory slots around the MMIO hole.
 */
#ifndef AGENTBOX_VM_H
#define AGENTBOX_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "guest_mem.h"
#include "snapshot_file.h"

#define KVM_API_VERSION_REQUIRED	12

struct vm {
	int kvm_fd;
	int fd;
	/* Size of each vCPU's kvm_run mapping. */
	size_t run_size;
	/* KVM_GET_SUPPORTED_CPUID, filtered per vCPU later. */
	struct kvm_cpuid2 *cpuid;
	void *ram;
	uint64_t ram_size;
	/* RAM is a private mapping of a snapshot's memory file. */
	bool ram_from_file;
	struct guest_mem gm;
};

struct vm_cap {
	int cap;
	const char *name;
	const char *why;
};

/* The capability table vm_open() checks, for the report and tests. */
extern const struct vm_cap vm_required_caps[];
extern const unsigned int vm_nr_required_caps;

/*
 * Open /dev/kvm (AGENTBOX_KVM_DEVICE in tests) and check its API
 * version: the fd, or -errno with the reason in why. A jailed VMM opens
 * it before its root changes.
 */
int vm_open_kvm(char *why, size_t why_size);

/*
 * Create the VM for nr_cpus vCPUs on kvm_fd, which vm_open takes over
 * (closed by vm_close, or here on failure), or on a /dev/kvm it opens
 * itself if kvm_fd is -1.
 */
int vm_open(struct vm *vm, int kvm_fd, unsigned int nr_cpus, char *why,
	    size_t why_size);

/*
 * Map size bytes of guest RAM and hand them to KVM: anonymous memory, or
 * with backing_fd >= 0 a private mapping of that file (a snapshot's).
 */
int vm_setup_memory(struct vm *vm, uint64_t size, int backing_fd, char *why,
		    size_t why_size);

/*
 * kvmclock in a snapshot: SNAP_SEC_CLOCK, a u64, the clock in
 * nanoseconds (KVM_GET_CLOCK). Restore last, just before the vCPUs run:
 * the guest's monotonic time goes on from the snapshot, without the gap.
 */
int vm_clock_save(const struct vm *vm, struct snap_builder *b, char *why,
		  size_t why_size);
int vm_clock_restore(const struct vm *vm, const struct snap_index *idx,
		     char *why, size_t why_size);

void vm_close(struct vm *vm);

#endif /* AGENTBOX_VM_H */
