/*
 * CPUID filtering on a synthetic KVM_GET_SUPPORTED_CPUID table, the boot
 * MSR list, the LAPIC LINT pins, the FPU reset state and the register
 * dump, all without KVM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <asm/kvm_para.h>

#include "check.h"
#include "cpu.h"
#include "regdump.h"

#define SUITE	"cpu"
#define NENT	16

static struct kvm_cpuid2 *supported;
static struct kvm_cpuid2 *out;

static void add(uint32_t fn, uint32_t index, uint32_t eax, uint32_t ebx,
		uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 *e = &supported->entries[supported->nent++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = index;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

/* What a host with APIC id 7 and a three-level cache might report. */
static void make_supported(void)
{
	supported = cpu_cpuid_alloc(NENT);
	supported->nent = 0;
	add(0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65);
	add(1, 0, 0x00a00f11, 0x07100800, 0x7ed8320b, 0x178bfbff);
	/* Leaf 4: L1d (level 1, type 1), L2 (level 2, type 3), L3, end. */
	add(4, 0, 0x1c004121, 0x01c0003f, 0x3f, 0);
	add(4, 1, 0x1c004143, 0x01c0003f, 0x3ff, 0);
	add(4, 2, 0x1c03c163, 0x03c0003f, 0x3fff, 0);
	add(4, 3, 0, 0, 0, 0);
	add(0xb, 0, 1, 2, 0x100, 7);
	add(0xb, 1, 4, 16, 0x201, 7);
	add(0xb, 2, 0, 0, 2, 7);
	add(0x40000000, 0, 0x40000001, 0, 0, 0);
	add(0x40000001, 0, 0xffffffff, 0, 0, 1);
	add(0x80000008, 0, 0x3030, 0, 0x3000f, 0);
	add(0x8000001d, 3, 0x0003c163, 0, 0, 0);
	add(0x8000001e, 0, 7, 0x0107, 0x0100, 0);
}

static struct kvm_cpuid_entry2 *find(uint32_t fn, uint32_t index)
{
	unsigned int i;

	for (i = 0; i < out->nent; i++)
		if (out->entries[i].function == fn &&
		    out->entries[i].index == index)
			return &out->entries[i];
	return NULL;
}

static bool filter(struct check *c, unsigned int cpu, unsigned int nr)
{
	free(supported);
	free(out);
	make_supported();
	out = cpu_cpuid_alloc(NENT);
	if (!CHECK(c, supported && out))
		return false;
	return CHECK_INT(c, cpu_filter_cpuid(out, NENT, supported, cpu, nr), 0);
}

static void test_leaf_1(struct check *c)
{
	struct kvm_cpuid_entry2 *e;

	if (!filter(c, 1, 2))
		return;
	e = find(1, 0);
	CHECK_U64(c, e->ebx >> 24, 1);			/* APIC id */
	CHECK_U64(c, (e->ebx >> 16) & 0xff, 2);		/* logical count */
	CHECK_U64(c, e->ebx & 0xffff, 0x0800);		/* CLFLUSH size kept */
	CHECK(c, e->ecx & (1U << 31));			/* hypervisor */
	CHECK_U64(c, e->ecx & 0x7fffffff, 0x7ed8320b);
	CHECK(c, e->edx & (1U << 28));			/* HTT */
	CHECK_U64(c, e->eax, 0x00a00f11);
	if (!filter(c, 0, 1))
		return;
	e = find(1, 0);
	CHECK_U64(c, e->ebx >> 24, 0);
	CHECK(c, !(e->edx & (1U << 28)));
}

static void test_cache_leaves(struct check *c)
{
	if (!filter(c, 0, 4))
		return;
	/* Bits 25:14 sharing - 1, bits 31:26 cores - 1. */
	CHECK_U64(c, find(4, 0)->eax, 0x0c000121);
	CHECK_U64(c, find(4, 1)->eax, 0x0c000143);
	CHECK_U64(c, find(4, 2)->eax, 0x0c00c163);
	CHECK_U64(c, find(4, 3)->eax, 0);
	CHECK_U64(c, find(4, 2)->ebx, 0x03c0003f);
	CHECK_U64(c, find(0x8000001d, 3)->eax, 0x0000c163);
}

static void test_topology(struct check *c)
{
	struct kvm_cpuid_entry2 *e;

	if (!filter(c, 2, 3))
		return;
	e = find(0xb, 0);
	CHECK_U64(c, e->eax, 0);
	CHECK_U64(c, e->ebx, 1);
	CHECK_U64(c, e->ecx, 0x100);
	CHECK_U64(c, e->edx, 2);
	e = find(0xb, 1);
	CHECK_U64(c, e->eax, 2);			/* 3 vCPUs: 2 bits */
	CHECK_U64(c, e->ebx, 3);
	CHECK_U64(c, e->ecx, 0x201);
	CHECK_U64(c, e->edx, 2);
	e = find(0xb, 2);
	CHECK_U64(c, e->ecx, 2);			/* level type 0: end */
	CHECK_U64(c, e->edx, 2);
	e = find(0x80000008, 0);
	CHECK_U64(c, e->ecx, 0x32002);		/* 3 cores, 2 id bits */
	CHECK_U64(c, e->eax, 0x3030);
	e = find(0x8000001e, 0);
	CHECK_U64(c, e->eax, 2);
	CHECK_U64(c, e->ebx, 0x0002);
	CHECK_U64(c, e->ecx, 0);
}

static void test_kvm_leaves(struct check *c)
{
	struct kvm_cpuid_entry2 *e;

	if (!filter(c, 0, 1))
		return;
	e = find(KVM_CPUID_SIGNATURE, 0);
	CHECK_U64(c, e->eax, KVM_CPUID_FEATURES);
	CHECK_MEM(c, &e->ebx, "KVMK", 4);
	CHECK_MEM(c, &e->ecx, "VMKV", 4);
	CHECK_MEM(c, &e->edx, "M\0\0\0", 4);
	e = find(KVM_CPUID_FEATURES, 0);
	CHECK_U64(c, e->eax, cpu_kvm_features);
	CHECK(c, e->eax & (1U << KVM_FEATURE_CLOCKSOURCE2));
	CHECK(c, e->eax & (1U << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT));
	CHECK(c, !(e->eax & (1U << KVM_FEATURE_MSI_EXT_DEST_ID)));
	CHECK(c, !(e->eax & (1U << KVM_FEATURE_HC_MAP_GPA_RANGE)));
	CHECK(c, !(e->eax & (1U << KVM_FEATURE_MIGRATION_CONTROL)));
	CHECK_U64(c, e->edx, 0);
}

static void test_filter_too_small(struct check *c)
{
	struct kvm_cpuid2 *small = cpu_cpuid_alloc(2);

	free(supported);
	make_supported();
	CHECK_INT(c, cpu_filter_cpuid(small, 2, supported, 0, 1), -E2BIG);
	free(small);
	free(supported);
	supported = NULL;
}

static void test_boot_msrs(struct check *c)
{
	static const uint32_t want[] = {
		0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083,
		0xc0000084, 0xc0000102, 0x10, 0x1a0, 0x2ff,
	};
	struct kvm_msr_entry e[CPU_BOOT_MSRS + 2];
	unsigned int i;

	memset(e, 0xff, sizeof(e));
	if (!CHECK_INT(c, cpu_boot_msrs(e, CPU_BOOT_MSRS + 2), 11))
		return;
	for (i = 0; i < 11; i++) {
		CHECK_U64(c, e[i].index, want[i]);
		CHECK_U64(c, e[i].reserved, 0);
	}
	for (i = 0; i < 9; i++)
		CHECK_U64(c, e[i].data, 0);
	CHECK_U64(c, e[9].data, 1);			/* fast strings */
	CHECK_U64(c, e[10].data, 0x806);		/* MTRRs on, WB */
	CHECK_INT(c, cpu_boot_msrs(e, 3), 3);
	CHECK_STR(c, cpu_msr_name(0x2ff), "MSR_MTRR_DEF_TYPE");
	CHECK_STR(c, cpu_msr_name(0xc0000102), "MSR_KERNEL_GS_BASE");
	CHECK_STR(c, cpu_msr_name(0x1234), "unknown MSR");
}

static void test_lapic_lints(struct check *c)
{
	struct kvm_lapic_state l;
	uint32_t v;

	memset(&l, 0, sizeof(l));
	/* Reset state: masked, fixed delivery. */
	put32((uint8_t *)l.regs + 0x350, 0x10000);
	put32((uint8_t *)l.regs + 0x360, 0x10700);
	cpu_lapic_lints(&l);
	v = get32((uint8_t *)l.regs + 0x350);
	CHECK_U64(c, v, 0x10700);			/* ExtINT */
	v = get32((uint8_t *)l.regs + 0x360);
	CHECK_U64(c, v, 0x10400);			/* NMI */
	CHECK_U64(c, get32((uint8_t *)l.regs + 0x340), 0);
}

static void test_fpu(struct check *c)
{
	struct kvm_fpu f;

	memset(&f, 0xff, sizeof(f));
	cpu_fpu(&f);
	CHECK_U64(c, f.fcw, 0x37f);
	CHECK_U64(c, f.mxcsr, 0x1f80);
	CHECK_U64(c, f.fsw, 0);
	CHECK_U64(c, f.ftwx, 0);
	CHECK_U64(c, f.last_ip, 0);
}

static void test_regdump(struct check *c)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	char buf[REGDUMP_SIZE];

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	r.rip = 0x1000200;
	r.r15 = 0xdeadbeef;
	s.cr0 = 0x80000011;
	s.cs.selector = 0x10;
	s.cs.present = 1;
	s.cs.l = 1;
	regdump_format(buf, sizeof(buf), &r, &s);
	CHECK(c, strstr(buf, "  rip 0000000001000200 ") != NULL);
	CHECK(c, strstr(buf, "r15 00000000deadbeef\n") != NULL);
	CHECK(c, strstr(buf, "cr0 0000000080000011") != NULL);
	CHECK(c, strstr(buf, "  cs  0010 base 0000000000000000 limit 00000000 type 0 dpl 0 p l\n") != NULL);
	CHECK(c, strstr(buf, "  gdt base") != NULL);
	/* Truncation still leaves a terminated string. */
	regdump_format(buf, 40, &r, &s);
	CHECK_INT(c, strlen(buf), 39);
	regdump_format(buf, sizeof(buf), NULL, NULL);
	CHECK_STR(c, buf, "");
}

int main(void)
{
	RUN(SUITE, test_leaf_1);
	RUN(SUITE, test_cache_leaves);
	RUN(SUITE, test_topology);
	RUN(SUITE, test_kvm_leaves);
	RUN(SUITE, test_filter_too_small);
	RUN(SUITE, test_boot_msrs);
	RUN(SUITE, test_lapic_lints);
	RUN(SUITE, test_fpu);
	RUN(SUITE, test_regdump);
	free(supported);
	free(out);
	return check_exit();
}
