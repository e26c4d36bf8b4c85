#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <asm/kvm_para.h>

#include "cpu.h"

#define KVM_F(bit)		(1U << (bit))

/*
 * Everything the in-kernel KVM implements by itself. Left out: the
 * obsolete MMU_OP; MSI_EXT_DEST_ID, since we route no MSIs; and
 * HC_MAP_GPA_RANGE and MIGRATION_CONTROL, which exit to a VMM that would
 * have to answer them.
 */
/*
 * No asynchronous page faults: a restored guest's RAM is a file whose
 * pages load on first touch, exactly when KVM would send the guest
 * "page not present" and later "page ready" through guest memory, and a
 * snapshot taken meanwhile leaves the guest waiting on tokens no clone
 * will ever complete.
 */
const uint32_t cpu_kvm_features =
	KVM_F(KVM_FEATURE_CLOCKSOURCE) | KVM_F(KVM_FEATURE_NOP_IO_DELAY) |
	KVM_F(KVM_FEATURE_CLOCKSOURCE2) |
	KVM_F(KVM_FEATURE_STEAL_TIME) | KVM_F(KVM_FEATURE_PV_EOI) |
	KVM_F(KVM_FEATURE_PV_UNHALT) | KVM_F(KVM_FEATURE_PV_TLB_FLUSH) |
	KVM_F(KVM_FEATURE_PV_SEND_IPI) |
	KVM_F(KVM_FEATURE_POLL_CONTROL) | KVM_F(KVM_FEATURE_PV_SCHED_YIELD) |
	KVM_F(KVM_FEATURE_CLOCKSOURCE_STABLE_BIT);

/* KVM_GET_SUPPORTED_CPUID answers E2BIG until the table is big enough. */
#define CPUID_NENT_FIRST	128
#define CPUID_NENT_MAX		4096

struct kvm_cpuid2 *cpu_cpuid_alloc(unsigned int nent)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (c)
		c->nent = nent;
	return c;
}

int cpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	unsigned int nent;
	struct kvm_cpuid2 *c;
	int err;

	for (nent = CPUID_NENT_FIRST; nent <= CPUID_NENT_MAX; nent *= 2) {
		c = cpu_cpuid_alloc(nent);
		if (!c)
			return -ENOMEM;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		err = -errno;
		free(c);
		if (err != -E2BIG)
			return err;
	}
	return -E2BIG;
}

/* Bits needed to number n items: 0 for 1, 1 for 2, 2 for 3 or 4. */
static unsigned int order_base_2(unsigned int n)
{
	unsigned int bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

/* Leaf 1: initial APIC id, logical count, and "running on a hypervisor". */
static void leaf_1(struct kvm_cpuid_entry2 *e, unsigned int cpu,
		   unsigned int nr)
{
	e->ebx = (e->ebx & 0xffff) | (cpu << 24) | (min_u(nr, 0xff) << 16);
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
	if (nr > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
}

/*
 * Cache descriptors (Intel leaf 4, AMD 0x8000001d): one core per vCPU,
 * one thread per core, so only a level-3 cache is shared by all of them.
 * Leaf 4 also carries the core count in bits 31:26.
 */
static void cache_leaf(struct kvm_cpuid_entry2 *e, unsigned int nr,
		       bool with_cores)
{
	unsigned int level = (e->eax >> 5) & 7;
	unsigned int sharing = level >= 3 ? min_u(nr - 1, 0xfff) : 0;

	/* Type 0 marks the end of the list. */
	if (!(e->eax & 0x1f))
		return;
	e->eax = (e->eax & 0x3fff) | (sharing << 14);
	if (with_cores)
		e->eax |= min_u(nr - 1, 0x3f) << 26;
}

/* Extended topology (0xb, 0x1f): level 0 SMT of 1, level 1 all cores. */
static void leaf_topology(struct kvm_cpuid_entry2 *e, unsigned int cpu,
			  unsigned int nr)
{
	e->edx = cpu;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1 << 8) | 0;
		break;
	case 1:
		e->eax = order_base_2(nr);
		e->ebx = nr;
		e->ecx = (2 << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

static void leaf_kvm(struct kvm_cpuid_entry2 *e)
{
	if (e->function == KVM_CPUID_SIGNATURE) {
		e->eax = KVM_CPUID_FEATURES;
		e->ebx = CPUID_KVM_SIGNATURE_EBX;
		e->ecx = CPUID_KVM_SIGNATURE_ECX;
		e->edx = CPUID_KVM_SIGNATURE_EDX;
		return;
	}
	e->eax &= cpu_kvm_features;
	e->ebx = 0;
	e->ecx = 0;
	/* No KVM_HINTS_REALTIME: vCPUs share host CPUs. */
	e->edx = 0;
}

/* AMD: core count and APIC-id width, then the per-core topology leaf. */
static void leaf_amd(struct kvm_cpuid_entry2 *e, unsigned int cpu,
		     unsigned int nr)
{
	if (e->function == 0x80000008) {
		e->ecx = (e->ecx & ~0xf0ffU) | (order_base_2(nr) << 12) |
			 min_u(nr - 1, 0xff);
		return;
	}
	/* 0x8000001e: extended APIC id, core id, one thread, node 0. */
	e->eax = cpu;
	e->ebx = (e->ebx & ~0xffffU) | (cpu & 0xff);
	e->ecx = 0;
}

static void filter_entry(struct kvm_cpuid_entry2 *e, unsigned int cpu,
			 unsigned int nr)
{
	switch (e->function) {
	case 1:
		leaf_1(e, cpu, nr);
		break;
	case 4:
		cache_leaf(e, nr, true);
		break;
	case 0xb:
	case 0x1f:
		leaf_topology(e, cpu, nr);
		break;
	case KVM_CPUID_SIGNATURE:
	case KVM_CPUID_FEATURES:
		leaf_kvm(e);
		break;
	case 0x80000008:
	case 0x8000001e:
		leaf_amd(e, cpu, nr);
		break;
	case 0x8000001d:
		cache_leaf(e, nr, false);
		break;
	}
}

int cpu_filter_cpuid(struct kvm_cpuid2 *dst, unsigned int max,
		     const struct kvm_cpuid2 *supported, unsigned int cpu,
		     unsigned int nr_cpus)
{
	unsigned int i;

	if (supported->nent > max)
		return -E2BIG;
	dst->nent = supported->nent;
	dst->padding = 0;
	memcpy(dst->entries, supported->entries,
	       supported->nent * sizeof(dst->entries[0]));
	for (i = 0; i < dst->nent; i++)
		filter_entry(&dst->entries[i], cpu, nr_cpus);
	return 0;
}

struct boot_msr {
	uint32_t index;
	uint64_t value;
	const char *name;
};

#define MSR(idx, val)	{ idx, val, #idx }

/*
 * What the boot protocol leaves undefined and the vCPU must not inherit
 * from KVM's reset state: no syscall entry points yet, TSC from zero,
 * fast strings on, and MTRRs enabled with write-back as the default type
 * (Linux would otherwise map all RAM uncached).
 */
static const struct boot_msr boot_msrs[CPU_BOOT_MSRS] = {
	MSR(MSR_IA32_SYSENTER_CS, 0),
	MSR(MSR_IA32_SYSENTER_ESP, 0),
	MSR(MSR_IA32_SYSENTER_EIP, 0),
	MSR(MSR_STAR, 0),
	MSR(MSR_LSTAR, 0),
	MSR(MSR_CSTAR, 0),
	MSR(MSR_SYSCALL_MASK, 0),
	MSR(MSR_KERNEL_GS_BASE, 0),
	MSR(MSR_IA32_TSC, 0),
	MSR(MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
	MSR(MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK),
};

unsigned int cpu_boot_msrs(struct kvm_msr_entry *e, unsigned int max)
{
	unsigned int i, n = min_u(max, CPU_BOOT_MSRS);

	for (i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].index = boot_msrs[i].index;
		e[i].data = boot_msrs[i].value;
	}
	return n;
}

const char *cpu_msr_name(uint32_t index)
{
	unsigned int i;

	for (i = 0; i < CPU_BOOT_MSRS; i++)
		if (boot_msrs[i].index == index)
			return boot_msrs[i].name;
	return "unknown MSR";
}

static void set_delivery_mode(struct kvm_lapic_state *lapic,
			      unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, lapic->regs + reg, sizeof(v));
	v = (v & ~APIC_DELIVERY_MASK) | (mode << 8);
	memcpy(lapic->regs + reg, &v, sizeof(v));
}

void cpu_lapic_lints(struct kvm_lapic_state *lapic)
{
	set_delivery_mode(lapic, APIC_LVT0, APIC_MODE_EXTINT);
	set_delivery_mode(lapic, APIC_LVT1, APIC_MODE_NMI);
}

void cpu_fpu(struct kvm_fpu *fpu)
{
	memset(fpu, 0, sizeof(*fpu));
	fpu->fcw = 0x37f;
	fpu->mxcsr = 0x1f80;
}

static int ioctl_fail(int err, char *why, size_t n, unsigned int cpu,
		      const char *what)
{
	snprintf(why, n, "vcpu %u: %s: %s", cpu, what, strerror(-err));
	return err;
}

static int set_cpuid(int fd, const struct kvm_cpuid2 *supported,
		     unsigned int cpu, unsigned int nr, char *why, size_t n)
{
	struct kvm_cpuid2 *c = cpu_cpuid_alloc(supported->nent);
	int err = 0;

	if (!c)
		return ioctl_fail(-ENOMEM, why, n, cpu, "CPUID");
	err = cpu_filter_cpuid(c, supported->nent, supported, cpu, nr);
	if (!err && ioctl(fd, KVM_SET_CPUID2, c) < 0)
		err = -errno;
	free(c);
	return err ? ioctl_fail(err, why, n, cpu, "KVM_SET_CPUID2") : 0;
}

/* KVM_SET_MSRS stops at the first MSR it rejects and returns its index. */
static int set_msrs(int fd, unsigned int cpu, char *why, size_t n)
{
	struct kvm_msrs *msrs;
	int ret, err = 0;

	msrs = calloc(1, sizeof(*msrs) +
			 CPU_BOOT_MSRS * sizeof(msrs->entries[0]));
	if (!msrs)
		return ioctl_fail(-ENOMEM, why, n, cpu, "KVM_SET_MSRS");
	msrs->nmsrs = cpu_boot_msrs(msrs->entries, CPU_BOOT_MSRS);
	ret = ioctl(fd, KVM_SET_MSRS, msrs);
	if (ret < 0) {
		err = ioctl_fail(-errno, why, n, cpu, "KVM_SET_MSRS");
	} else if ((unsigned int)ret < msrs->nmsrs) {
		snprintf(why, n, "vcpu %u: KVM_SET_MSRS: KVM rejected %s (0x%x)",
			 cpu, cpu_msr_name(msrs->entries[ret].index),
			 msrs->entries[ret].index);
		err = -EINVAL;
	}
	free(msrs);
	return err;
}

static int set_lapic(int fd, unsigned int cpu, char *why, size_t n)
{
	struct kvm_lapic_state lapic;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return ioctl_fail(-errno, why, n, cpu, "KVM_GET_LAPIC");
	cpu_lapic_lints(&lapic);
	if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
		return ioctl_fail(-errno, why, n, cpu, "KVM_SET_LAPIC");
	return 0;
}

static int set_fpu(int fd, unsigned int cpu, char *why, size_t n)
{
	struct kvm_fpu fpu;

	cpu_fpu(&fpu);
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return ioctl_fail(-errno, why, n, cpu, "KVM_SET_FPU");
	return 0;
}

int cpu_configure(int vcpu_fd, const struct kvm_cpuid2 *supported,
		  unsigned int cpu, unsigned int nr_cpus, char *why,
		  size_t why_size)
{
	int err;

	err = set_cpuid(vcpu_fd, supported, cpu, nr_cpus, why, why_size);
	if (!err)
		err = set_msrs(vcpu_fd, cpu, why, why_size);
	if (!err)
		err = set_lapic(vcpu_fd, cpu, why, why_size);
	if (!err)
		err = set_fpu(vcpu_fd, cpu, why, why_size);
	return err;
}
