#ifndef AGENTBOX_LONGMODE_H
#define AGENTBOX_LONGMODE_H

#include <stdint.h>

#include <linux/kvm.h>

#include "guest_mem.h"
#include "layout.h"

/* Selectors the 64-bit boot protocol requires (boot.rst). */
#define LONGMODE_BOOT_CS	0x10
#define LONGMODE_BOOT_DS	0x18
#define LONGMODE_BOOT_TSS	0x20

/* Access/flags words: 64-bit code, 32-bit-sized data, busy 64-bit TSS. */
#define LONGMODE_GDT_CODE	0xa09b
#define LONGMODE_GDT_DATA	0xc093
#define LONGMODE_GDT_TSS	0x808b

#define X86_CR0_PE		(1ULL << 0)
#define X86_CR0_PG		(1ULL << 31)
#define X86_CR4_PAE		(1ULL << 5)
#define X86_EFER_LME		(1ULL << 8)
#define X86_EFER_LMA		(1ULL << 10)

#define PTE_PRESENT		(1ULL << 0)
#define PTE_RW			(1ULL << 1)
#define PTE_PS			(1ULL << 7)

/* A GDT descriptor from flags (access byte low, G/D/L/AVL high nibble). */
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);

/* The boot GDT as written to LAYOUT_GDT_ADDR, indexed by selector / 8. */
void longmode_gdt(uint64_t gdt[LAYOUT_GDT_ENTRIES]);

/* Write GDT, IDT and the 1 GiB identity map into guest memory. */
int longmode_write_tables(struct guest_mem *gm);

/* Decode a GDT descriptor into the form KVM_SET_SREGS takes. */
void longmode_segment(uint64_t entry, uint16_t selector,
		      struct kvm_segment *seg);

/*
 * Turn the sregs KVM_GET_SREGS returned into long mode on our tables:
 * segments, GDT/IDT, CR0 |= PE|PG, CR3, CR4 |= PAE, EFER |= LME|LMA.
 */
void longmode_sregs(struct kvm_sregs *s);

/* General registers at the 64-bit entry: rip, rsi = zero page, rflags. */
void longmode_regs(struct kvm_regs *r, uint64_t entry);

#endif /* AGENTBOX_LONGMODE_H */
