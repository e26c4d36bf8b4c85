/*
 * What each vCPU must look like before its first KVM_RUN, beyond the
 * long-mode registers (longmode.c): CPUID filtered from what KVM supports,
 * the boot MSRs, the LAPIC's LINT pins, and a reset FPU. The builders are
 * pure so they can be tested without KVM; cpu_configure() applies them.
 */
#ifndef AGENTBOX_CPU_H
#define AGENTBOX_CPU_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define MSR_IA32_TSC			0x00000010
#define MSR_IA32_SYSENTER_CS		0x00000174
#define MSR_IA32_SYSENTER_ESP		0x00000175
#define MSR_IA32_SYSENTER_EIP		0x00000176
#define MSR_IA32_MISC_ENABLE		0x000001a0
#define MSR_MTRR_DEF_TYPE		0x000002ff
#define MSR_STAR			0xc0000081
#define MSR_LSTAR			0xc0000082
#define MSR_CSTAR			0xc0000083
#define MSR_SYSCALL_MASK		0xc0000084
#define MSR_KERNEL_GS_BASE		0xc0000102

#define MISC_ENABLE_FAST_STRING		(1ULL << 0)
#define MTRR_DEF_TYPE_ENABLE		(1ULL << 11)
#define MTRR_TYPE_WRBACK		6ULL

#define CPU_BOOT_MSRS			11

#define APIC_LVT0			0x350
#define APIC_LVT1			0x360
#define APIC_DELIVERY_MASK		0x700
#define APIC_MODE_NMI			0x4
#define APIC_MODE_EXTINT		0x7

#define CPUID_1_ECX_HYPERVISOR		(1U << 31)
#define CPUID_1_EDX_HTT			(1U << 28)
#define CPUID_KVM_SIGNATURE_EBX		0x4b4d564b	/* "KVMK" */
#define CPUID_KVM_SIGNATURE_ECX		0x564b4d56	/* "VMKV" */
#define CPUID_KVM_SIGNATURE_EDX		0x0000004d	/* "M\0\0\0" */

/* The KVM paravirt features we let the guest see (kvm_para.h bits). */
extern const uint32_t cpu_kvm_features;

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table. */
int cpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);

/* A table with room for nent entries (nent field set), or NULL. */
struct kvm_cpuid2 *cpu_cpuid_alloc(unsigned int nent);

/*
 * Copy supported into dst (room for max entries) and adapt it to vCPU
 * cpu of nr_cpus: APIC ids, topology, the hypervisor bit, and the KVM
 * leaves. -E2BIG if dst is too small.
 */
int cpu_filter_cpuid(struct kvm_cpuid2 *dst, unsigned int max,
		     const struct kvm_cpuid2 *supported, unsigned int cpu,
		     unsigned int nr_cpus);

/* The boot MSRs with their values; returns how many (CPU_BOOT_MSRS). */
unsigned int cpu_boot_msrs(struct kvm_msr_entry *e, unsigned int max);

/* "MSR_STAR" for 0xc0000081, or "unknown MSR". */
const char *cpu_msr_name(uint32_t index);

/* LINT0 delivers ExtINT (the PIC), LINT1 NMI, as on a PC. */
void cpu_lapic_lints(struct kvm_lapic_state *lapic);

/* The FPU after FNINIT, with SSE exceptions masked. */
void cpu_fpu(struct kvm_fpu *fpu);

/*
 * Apply CPUID, MSRs, LAPIC and FPU to a vCPU fd, in that order (the MSRs
 * and later SREGS are checked against the CPUID). why gets the failing
 * ioctl and reason.
 */
int cpu_configure(int vcpu_fd, const struct kvm_cpuid2 *supported,
		  unsigned int cpu, unsigned int nr_cpus, char *why,
		  size_t why_size);

#endif /* AGENTBOX_CPU_H */
