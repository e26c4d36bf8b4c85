#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "longmode.h"

#define SUITE	"longmode"
#define MEM	0x100000

/*
 * Descriptors worked out by hand from the SDM layout: limit 0xfffff with
 * G=1, base 0; access 0x9b/0x93/0x8b; flags nibble 0xa (G, L), 0xc (G, D),
 * 0x8 (G).
 */
#define CODE_DESC	0x00af9b000000ffffULL
#define DATA_DESC	0x00cf93000000ffffULL
#define TSS_DESC	0x008f8b000000ffffULL

static _Alignas(4096) uint8_t buf[MEM];

static bool init_mem(struct check *c, struct guest_mem *gm, uint64_t size)
{
	memset(buf, 0x5a, sizeof(buf));
	return CHECK_INT(c, guest_mem_init(gm, buf, size, 0xc0000000ULL,
					   0x100000000ULL), 0);
}

static void test_gdt_entry(struct check *c)
{
	CHECK_U64(c, gdt_entry(0xa09b, 0, 0xfffff), CODE_DESC);
	CHECK_U64(c, gdt_entry(0xc093, 0, 0xfffff), DATA_DESC);
	CHECK_U64(c, gdt_entry(0x808b, 0, 0xfffff), TSS_DESC);
	CHECK_U64(c, gdt_entry(0x0093, 0x12345678, 0xabcde),
		  0x120a93345678bcdeULL);
}

static void test_tables_in_memory(struct check *c)
{
	struct guest_mem gm;
	unsigned int i;

	if (!init_mem(c, &gm, MEM) ||
	    !CHECK_INT(c, longmode_write_tables(&gm), 0))
		return;
	CHECK_U64(c, get64(buf + 0x500), 0);
	CHECK_U64(c, get64(buf + 0x508), 0);
	CHECK_U64(c, get64(buf + 0x510), CODE_DESC);	/* __BOOT_CS */
	CHECK_U64(c, get64(buf + 0x518), DATA_DESC);	/* __BOOT_DS */
	CHECK_U64(c, get64(buf + 0x520), TSS_DESC);
	CHECK_U64(c, get64(buf + 0x528), 0);		/* TSS upper half */
	CHECK_U64(c, get64(buf + 0x540), 0);		/* IDT */
	CHECK_U64(c, get64(buf + 0x9000), 0xa003);	/* PML4[0] */
	CHECK_U64(c, get64(buf + 0xa000), 0xb003);	/* PDPT[0] */
	for (i = 1; i < 512; i++) {
		CHECK_U64(c, get64(buf + 0x9000 + 8 * i), 0);
		CHECK_U64(c, get64(buf + 0xa000 + 8 * i), 0);
	}
	CHECK_U64(c, get64(buf + 0xb000), 0x83);
	CHECK_U64(c, get64(buf + 0xb008), 0x200083);
	CHECK_U64(c, get64(buf + 0xbff8), 0x3fe00083);
	for (i = 0; i < 512; i++)
		CHECK_U64(c, get64(buf + 0xb000 + 8 * i),
			  ((uint64_t)i << 21) | 0x83);
	CHECK_U64(c, buf[0xc000], 0x5a);
}

static void test_tables_no_room(struct check *c)
{
	struct guest_mem gm;

	if (init_mem(c, &gm, 0xb000))
		CHECK_INT(c, longmode_write_tables(&gm), -EFAULT);
}

static void test_segments(struct check *c)
{
	struct kvm_segment s;

	longmode_segment(CODE_DESC, 0x10, &s);
	CHECK_U64(c, s.base, 0);
	CHECK_U64(c, s.limit, 0xffffffff);
	CHECK_U64(c, s.selector, 0x10);
	CHECK_U64(c, s.type, 0xb);
	CHECK_U64(c, s.present, 1);
	CHECK_U64(c, s.dpl, 0);
	CHECK_U64(c, s.db, 0);
	CHECK_U64(c, s.s, 1);
	CHECK_U64(c, s.l, 1);
	CHECK_U64(c, s.g, 1);
	CHECK_U64(c, s.unusable, 0);
	longmode_segment(DATA_DESC, 0x18, &s);
	CHECK_U64(c, s.type, 0x3);
	CHECK_U64(c, s.db, 1);
	CHECK_U64(c, s.l, 0);
	longmode_segment(TSS_DESC, 0x20, &s);
	CHECK_U64(c, s.type, 0xb);
	CHECK_U64(c, s.s, 0);
	longmode_segment(0x120a93345678bcdeULL, 0x8, &s);
	CHECK_U64(c, s.base, 0x12345678);
	CHECK_U64(c, s.limit, 0xabcde);
	CHECK_U64(c, s.g, 0);
	longmode_segment(0, 0, &s);
	CHECK_U64(c, s.unusable, 1);
}

static void test_sregs(struct check *c)
{
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	s.cr0 = 0x60000010;		/* what a fresh KVM vCPU reports */
	longmode_sregs(&s);
	CHECK_U64(c, s.cr0, 0xe0000011);
	CHECK_U64(c, s.cr3, 0x9000);
	CHECK_U64(c, s.cr4, 0x20);
	CHECK_U64(c, s.efer, 0x500);
	CHECK_U64(c, s.gdt.base, 0x500);
	CHECK_U64(c, s.gdt.limit, 47);
	CHECK_U64(c, s.idt.base, 0x540);
	CHECK_U64(c, s.idt.limit, 7);
	CHECK_U64(c, s.cs.selector, 0x10);
	CHECK_U64(c, s.cs.l, 1);
	CHECK_U64(c, s.ds.selector, 0x18);
	CHECK_U64(c, s.es.selector, 0x18);
	CHECK_U64(c, s.fs.selector, 0x18);
	CHECK_U64(c, s.gs.selector, 0x18);
	CHECK_U64(c, s.ss.selector, 0x18);
	CHECK_U64(c, s.ss.type, 0x3);
	CHECK_U64(c, s.tr.selector, 0x20);
	CHECK_U64(c, s.tr.type, 0xb);
}

static void test_regs(struct check *c)
{
	struct kvm_regs r;

	memset(&r, 0xff, sizeof(r));
	longmode_regs(&r, 0x100200);
	CHECK_U64(c, r.rip, 0x100200);
	CHECK_U64(c, r.rsi, 0x7000);
	CHECK_U64(c, r.rflags, 2);
	CHECK_U64(c, r.rsp, 0x8ff0);
	CHECK_U64(c, r.rax, 0);
}

int main(void)
{
	RUN(SUITE, test_gdt_entry);
	RUN(SUITE, test_tables_in_memory);
	RUN(SUITE, test_tables_no_room);
	RUN(SUITE, test_segments);
	RUN(SUITE, test_sregs);
	RUN(SUITE, test_regs);
	return check_exit();
}
