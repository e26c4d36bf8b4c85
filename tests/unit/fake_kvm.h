/*
 * What tests that link fake_kvm.c in (rather than LD_PRELOAD it) may ask
 * the fake directly.
 */
#ifndef AGENTBOX_FAKE_KVM_H
#define AGENTBOX_FAKE_KVM_H

/*
 * The VMM opens this instead of /dev/kvm (AGENTBOX_KVM_DEVICE): without
 * the shim the open fails, and no test ever reaches the real device.
 */
#define FAKE_KVM_DEVICE		"/nonexistent/agentbox-fake-kvm"

/*
 * Two MSRs the fake lists in KVM_GET_MSR_INDEX_LIST but refuses to read
 * or write, as KVM does for one whose CPUID feature the guest lacks.
 */
#define FAKE_KVM_HIDDEN_MSR_A	0x00000d90
#define FAKE_KVM_HIDDEN_MSR_B	0x400002c8

/*
 * The requests of the ioctls a VM or vCPU fd has seen, oldest first:
 * copies up to max of them to reqs and returns how many it has (at most
 * FAKE_KVM_LOG_MAX; later ones are counted but not kept).
 */
#define FAKE_KVM_LOG_MAX	1024
unsigned int fake_kvm_calls(int fd, unsigned long *reqs, unsigned int max);

#endif /* AGENTBOX_FAKE_KVM_H */
