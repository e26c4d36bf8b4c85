/*
 * Guest-physical memory map of an agentbox microVM.
 *
 * Every address the loader, the devices and the guest init agree on lives
 * here, so that a change to the map is one edit and the overlap checks at
 * the bottom catch mistakes at compile time.
 *
 *   0x00000000  real-mode IVT/BDA (unused, left as RAM)
 *   0x00000500  GDT (6 entries: null, null, code, data, TSS low, TSS high)
 *   0x00000540  IDT (one empty entry; interrupts stay off until Linux
 *               installs its own)
 *   0x00007000  zero page (struct boot_params)
 *   0x00008ff0  initial stack pointer (grows down, below the page tables)
 *   0x00009000  PML4, 0xa000 PDPT, 0xb000 PD: identity map of the first
 *               GiB with 2 MiB pages
 *   0x00020000  kernel command line (up to 64 KiB including the NUL)
 *   0x0009fc00  end of low RAM; e820 reserved up to 1 MiB
 *   0x000f0000  MP floating pointer + MP configuration table
 *   0x00100000  kernel (bzImage protected-mode part); a vmlinux goes to its
 *               PT_LOAD physical addresses, which must be at or above here
 *      ...      initrd, placed at the top of RAM below the MMIO hole
 *   0xc0000000  start of the 32-bit MMIO hole (1 GiB, never RAM)
 *   0xd0000000  boot timer (one page)
 *   0xd0001000  virtio-mmio device 0; device i at base + i * 0x1000,
 *               IRQ 5 + i
 *   0xfec00000  IOAPIC
 *   0xfee00000  local APIC
 *   0xfffbc000  KVM identity-map page (KVM_SET_IDENTITY_MAP_ADDR)
 *   0xfffbd000  KVM TSS, three pages (KVM_SET_TSS_ADDR)
 *  0x100000000  RAM beyond the hole continues here
 */
#ifndef AGENTBOX_LAYOUT_H
#define AGENTBOX_LAYOUT_H

#include <stdint.h>

/*
 * The boot structures are written as native C structs into guest memory;
 * that is only right because host and guest are both little-endian x86.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "guest structures are written in host byte order");

#define LAYOUT_PAGE_SIZE		0x1000ULL

#define LAYOUT_GDT_ADDR			0x500ULL
#define LAYOUT_GDT_ENTRIES		6
#define LAYOUT_IDT_ADDR			0x540ULL
#define LAYOUT_IDT_SIZE			8ULL

#define LAYOUT_ZERO_PAGE_ADDR		0x7000ULL
#define LAYOUT_ZERO_PAGE_SIZE		0x1000ULL
#define LAYOUT_BOOT_STACK_TOP		0x8ff0ULL

#define LAYOUT_PML4_ADDR		0x9000ULL
#define LAYOUT_PDPT_ADDR		0xa000ULL
#define LAYOUT_PD_ADDR			0xb000ULL
/*
 * One PD of 512 2-MiB pages; boot.rst wants kernel, zero page and command
 * line identity-mapped, so all of them must sit below this.
 */
#define LAYOUT_IDENTITY_MAP_END		(1ULL << 30)

#define LAYOUT_CMDLINE_ADDR		0x20000ULL
#define LAYOUT_CMDLINE_MAX		0x10000ULL

/*
 * Low RAM stops where a PC's EBDA would start; the rest up to 1 MiB is
 * reported reserved so the MP table there is never handed out as RAM.
 */
#define LAYOUT_LOW_RAM_END		0x9fc00ULL
#define LAYOUT_HIMEM_START		0x100000ULL

/* Linux scans 0xf0000-0xfffff for "_MP_"; 64 KiB fits 254 vCPUs easily. */
#define LAYOUT_MPTABLE_ADDR		0xf0000ULL
#define LAYOUT_MPTABLE_MAX		0x10000ULL

#define LAYOUT_KERNEL_ADDR		0x100000ULL
/* The 64-bit entry of a bzImage's protected-mode part (boot.rst). */
#define LAYOUT_BZIMAGE_ENTRY_OFFSET	0x200ULL

#define LAYOUT_MMIO_HOLE_START		0xc0000000ULL
#define LAYOUT_MMIO_HOLE_END		0x100000000ULL
#define LAYOUT_HIGH_RAM_START		LAYOUT_MMIO_HOLE_END

#define LAYOUT_BOOT_TIMER_ADDR		0xd0000000ULL
#define LAYOUT_BOOT_TIMER_SIZE		0x1000ULL

#define LAYOUT_VIRTIO_MMIO_BASE		0xd0001000ULL
#define LAYOUT_VIRTIO_MMIO_STRIDE	0x1000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE		0x1000ULL
/* IRQs 0-4 belong to the PIT, keyboard, cascade, COM2 and COM1. */
#define LAYOUT_VIRTIO_IRQ_BASE		5U
#define LAYOUT_IOAPIC_PINS		24U
#define LAYOUT_VIRTIO_MAX_DEVICES	(LAYOUT_IOAPIC_PINS - LAYOUT_VIRTIO_IRQ_BASE)

#define LAYOUT_SERIAL_PORT		0x3f8U
#define LAYOUT_SERIAL_IRQ		4U

#define LAYOUT_IOAPIC_ADDR		0xfec00000ULL
#define LAYOUT_LAPIC_ADDR		0xfee00000ULL

#define LAYOUT_IDENTITY_MAP_ADDR	0xfffbc000ULL
#define LAYOUT_TSS_ADDR			0xfffbd000ULL
#define LAYOUT_TSS_SIZE			0x3000ULL

static inline uint64_t layout_virtio_mmio_addr(unsigned int i)
{
	return LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_STRIDE;
}

static inline unsigned int layout_virtio_irq(unsigned int i)
{
	return LAYOUT_VIRTIO_IRQ_BASE + i;
}

/* End of the RAM that sits below the MMIO hole, for a guest of ram bytes. */
static inline uint64_t layout_low_ram_end(uint64_t ram)
{
	return ram < LAYOUT_MMIO_HOLE_START ? ram : LAYOUT_MMIO_HOLE_START;
}

_Static_assert(LAYOUT_GDT_ADDR + LAYOUT_GDT_ENTRIES * 8 <= LAYOUT_IDT_ADDR,
	       "GDT overlaps IDT");
_Static_assert(LAYOUT_IDT_ADDR + LAYOUT_IDT_SIZE <= LAYOUT_ZERO_PAGE_ADDR,
	       "IDT overlaps zero page");
_Static_assert(LAYOUT_ZERO_PAGE_ADDR + LAYOUT_ZERO_PAGE_SIZE <
	       LAYOUT_BOOT_STACK_TOP, "zero page overlaps stack");
_Static_assert(LAYOUT_BOOT_STACK_TOP < LAYOUT_PML4_ADDR,
	       "stack overlaps page tables");
_Static_assert(LAYOUT_PD_ADDR + LAYOUT_PAGE_SIZE <= LAYOUT_CMDLINE_ADDR,
	       "page tables overlap command line");
_Static_assert(LAYOUT_CMDLINE_ADDR + LAYOUT_CMDLINE_MAX <= LAYOUT_LOW_RAM_END,
	       "command line runs past low RAM");
_Static_assert(LAYOUT_MPTABLE_ADDR >= LAYOUT_LOW_RAM_END &&
	       LAYOUT_MPTABLE_ADDR + LAYOUT_MPTABLE_MAX <= LAYOUT_HIMEM_START,
	       "MP table outside the reserved area below 1 MiB");
_Static_assert(LAYOUT_BOOT_TIMER_ADDR >= LAYOUT_MMIO_HOLE_START &&
	       LAYOUT_BOOT_TIMER_ADDR + LAYOUT_BOOT_TIMER_SIZE <=
	       LAYOUT_VIRTIO_MMIO_BASE, "boot timer misplaced");
_Static_assert(LAYOUT_VIRTIO_MMIO_BASE + LAYOUT_VIRTIO_MAX_DEVICES *
	       LAYOUT_VIRTIO_MMIO_STRIDE <= LAYOUT_IOAPIC_ADDR,
	       "virtio-mmio window runs into the IOAPIC");
_Static_assert(LAYOUT_VIRTIO_MMIO_SIZE <= LAYOUT_VIRTIO_MMIO_STRIDE,
	       "virtio-mmio devices overlap");
_Static_assert(LAYOUT_IDENTITY_MAP_ADDR + LAYOUT_PAGE_SIZE == LAYOUT_TSS_ADDR,
	       "identity-map page must sit just below the TSS");
_Static_assert(LAYOUT_LAPIC_ADDR < LAYOUT_IDENTITY_MAP_ADDR &&
	       LAYOUT_TSS_ADDR + LAYOUT_TSS_SIZE <= LAYOUT_MMIO_HOLE_END,
	       "KVM private pages must be inside the MMIO hole");
_Static_assert(LAYOUT_MMIO_HOLE_START >= LAYOUT_IDENTITY_MAP_END,
	       "identity map must only cover RAM");

#endif /* AGENTBOX_LAYOUT_H */
