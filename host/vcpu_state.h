/*
 * A vCPU's state in a snapshot: one SNAP_SEC_VCPU section per vCPU
 * (instance = vCPU id), a list of blobs
 *
 *   u32 kind, u32 length, length bytes
 *
 * one of each kind below, in this order. Every blob but MSRS is the raw
 * KVM struct of its ioctl (KVM_GET_<name>); MSRS is a u32 count, then
 * count pairs of u32 index, u64 value. A restore wants each kind exactly
 * once and each struct at exactly its size.
 *
 * Nothing here pauses the vCPU: save and restore run on a vCPU that is
 * not in KVM_RUN, with every other vCPU stopped too.
 */
#ifndef AGENTBOX_VCPU_STATE_H
#define AGENTBOX_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot_file.h"

enum vcpu_state_blob {
	VCPU_BLOB_MP_STATE = 1,
	VCPU_BLOB_REGS,
	VCPU_BLOB_SREGS,
	VCPU_BLOB_XSAVE,
	VCPU_BLOB_XCRS,
	VCPU_BLOB_LAPIC,
	VCPU_BLOB_MSRS,
	VCPU_BLOB_EVENTS,
	VCPU_BLOB_DEBUGREGS,
	VCPU_BLOB_END
};

/* More than KVM has ever listed; a bigger count is a damaged file. */
#define VCPU_STATE_MAX_MSRS	1024

/* The MSRs a snapshot saves for every vCPU, in the order it sets them. */
struct vcpu_msr_list {
	unsigned int nr;
	uint32_t index[];
};

/*
 * KVM_GET_MSR_INDEX_LIST on kvm_fd, less the MSRs vcpu_fd cannot read.
 * vcpu_fd must have its CPUID set (cpu_configure()), since CPUID decides
 * which MSRs exist. KVM's list holds MSR_IA32_TSC, so a restore sets the
 * guest's TSC back (KVM moves its TSC offset) and the kvmclock MSRs. It
 * lacks the MTRRs, which cpu_configure() sets the same way on both sides.
 * Free the list with free().
 */
int vcpu_msr_list_get(int kvm_fd, int vcpu_fd, struct vcpu_msr_list **out,
		      char *why, size_t why_size);

int vcpu_state_save(int vcpu_fd, const struct vcpu_msr_list *msrs,
		    unsigned int id, struct snap_builder *b, char *why,
		    size_t why_size);

/*
 * Call after cpu_configure() on a new vCPU. The section is checked whole
 * before anything is set; a KVM refusal after that leaves the vCPU half
 * restored, and the VM is only fit to be torn down.
 */
int vcpu_state_restore(int vcpu_fd, unsigned int id,
		       const struct snap_index *idx, char *why,
		       size_t why_size);

/*
 * KVM_KVMCLOCK_CTRL, for a pause: the guest learns it was stopped and
 * does not take the gap for a soft lockup. A guest without kvmclock
 * (EINVAL) has nothing to tell, so that is success too.
 */
int vcpu_state_kvmclock_ctrl(int vcpu_fd);

#endif /* AGENTBOX_VCPU_STATE_H */
