/*
 * Long-mode boot state: the GDT, an empty IDT, identity page tables and
 * the register values that make the vCPU start in 64-bit mode.
 */
#include <string.h>

#include "layout.h"
#include "longmode.h"

#define PT_ENTRIES		512
#define LARGE_PAGE_SIZE		(2ULL << 20)
#define FLAT_LIMIT		0xfffff
#define RFLAGS_RESERVED		(1ULL << 1)

_Static_assert(PT_ENTRIES * LARGE_PAGE_SIZE == LAYOUT_IDENTITY_MAP_END,
	       "one PD maps exactly the identity-mapped range");
_Static_assert(LONGMODE_BOOT_TSS / 8 + 2 == LAYOUT_GDT_ENTRIES,
	       "GDT ends with the 16-byte TSS descriptor");

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) |
	       ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) |
	       ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

/*
 * Entry 1 stays null so code and data land on the selectors boot.rst
 * names; the TSS is a 16-byte system descriptor whose upper half is zero.
 */
void longmode_gdt(uint64_t gdt[LAYOUT_GDT_ENTRIES])
{
	memset(gdt, 0, LAYOUT_GDT_ENTRIES * sizeof(gdt[0]));
	gdt[LONGMODE_BOOT_CS / 8] = gdt_entry(LONGMODE_GDT_CODE, 0, FLAT_LIMIT);
	gdt[LONGMODE_BOOT_DS / 8] = gdt_entry(LONGMODE_GDT_DATA, 0, FLAT_LIMIT);
	gdt[LONGMODE_BOOT_TSS / 8] = gdt_entry(LONGMODE_GDT_TSS, 0, FLAT_LIMIT);
}

static int write_page_tables(struct guest_mem *gm)
{
	uint64_t table[PT_ENTRIES];
	unsigned int i;
	int err;

	memset(table, 0, sizeof(table));
	table[0] = LAYOUT_PDPT_ADDR | PTE_PRESENT | PTE_RW;
	err = gm_write(gm, LAYOUT_PML4_ADDR, table, sizeof(table));
	if (err)
		return err;
	table[0] = LAYOUT_PD_ADDR | PTE_PRESENT | PTE_RW;
	err = gm_write(gm, LAYOUT_PDPT_ADDR, table, sizeof(table));
	if (err)
		return err;
	for (i = 0; i < PT_ENTRIES; i++)
		table[i] = (i * LARGE_PAGE_SIZE) | PTE_PRESENT | PTE_RW | PTE_PS;
	return gm_write(gm, LAYOUT_PD_ADDR, table, sizeof(table));
}

int longmode_write_tables(struct guest_mem *gm)
{
	uint64_t gdt[LAYOUT_GDT_ENTRIES];
	uint64_t idt = 0;
	int err;

	longmode_gdt(gdt);
	err = gm_write(gm, LAYOUT_GDT_ADDR, gdt, sizeof(gdt));
	if (err)
		return err;
	err = gm_write(gm, LAYOUT_IDT_ADDR, &idt, sizeof(idt));
	if (err)
		return err;
	return write_page_tables(gm);
}

static uint32_t descriptor_limit(uint64_t entry)
{
	uint32_t limit = ((entry >> 32) & 0x000f0000) | (entry & 0xffff);

	/* With G set the limit counts 4 KiB pages; KVM wants bytes. */
	if (entry & (1ULL << 55))
		limit = (limit << 12) | 0xfff;
	return limit;
}

void longmode_segment(uint64_t entry, uint16_t selector,
		      struct kvm_segment *seg)
{
	memset(seg, 0, sizeof(*seg));
	seg->base = ((entry >> 32) & 0xff000000) | ((entry >> 16) & 0xffffff);
	seg->limit = descriptor_limit(entry);
	seg->selector = selector;
	seg->type = (entry >> 40) & 0xf;
	seg->s = (entry >> 44) & 1;
	seg->dpl = (entry >> 45) & 3;
	seg->present = (entry >> 47) & 1;
	seg->avl = (entry >> 52) & 1;
	seg->l = (entry >> 53) & 1;
	seg->db = (entry >> 54) & 1;
	seg->g = (entry >> 55) & 1;
	seg->unusable = !seg->present;
}

void longmode_sregs(struct kvm_sregs *s)
{
	uint64_t gdt[LAYOUT_GDT_ENTRIES];

	longmode_gdt(gdt);
	longmode_segment(gdt[LONGMODE_BOOT_CS / 8], LONGMODE_BOOT_CS, &s->cs);
	longmode_segment(gdt[LONGMODE_BOOT_DS / 8], LONGMODE_BOOT_DS, &s->ds);
	s->es = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	s->ss = s->ds;
	longmode_segment(gdt[LONGMODE_BOOT_TSS / 8], LONGMODE_BOOT_TSS, &s->tr);
	s->gdt.base = LAYOUT_GDT_ADDR;
	s->gdt.limit = sizeof(gdt) - 1;
	s->idt.base = LAYOUT_IDT_ADDR;
	s->idt.limit = LAYOUT_IDT_SIZE - 1;
	s->cr0 |= X86_CR0_PE | X86_CR0_PG;
	s->cr3 = LAYOUT_PML4_ADDR;
	s->cr4 |= X86_CR4_PAE;
	s->efer |= X86_EFER_LME | X86_EFER_LMA;
}

void longmode_regs(struct kvm_regs *r, uint64_t entry)
{
	memset(r, 0, sizeof(*r));
	r->rip = entry;
	r->rsi = LAYOUT_ZERO_PAGE_ADDR;
	r->rsp = LAYOUT_BOOT_STACK_TOP;
	r->rbp = LAYOUT_BOOT_STACK_TOP;
	r->rflags = RFLAGS_RESERVED;
}
