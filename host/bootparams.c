/*
 * The zero page (struct boot_params) of the x86 64-bit boot protocol,
 * its e820 map, and the placement of command line and initrd.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <asm/e820.h>

#include "bootparams.h"
#include "layout.h"

#define LOADER_TYPE_UNDEFINED	0xff
#define BOOT_FLAG_MAGIC		0xaa55
#define HDRS_MAGIC		0x53726448
/* The protocol the synthesized vmlinux header claims, as PVH boot does. */
#define SYNTH_VERSION		0x020c
/* CONFIG_PHYSICAL_ALIGN's default, what Firecracker reports too. */
#define SYNTH_KERNEL_ALIGN	0x01000000

_Static_assert(sizeof(struct boot_params) == 4096, "zero page size");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8,
	       "zero page layout");
_Static_assert(offsetof(struct boot_params, hdr) == 0x1f1,
	       "zero page layout");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0,
	       "zero page layout");
_Static_assert(sizeof(struct boot_e820_entry) == 20, "e820 entry size");
_Static_assert(LAYOUT_CMDLINE_ADDR <= UINT32_MAX, "cmd_line_ptr is 32 bits");

static int e820_add(struct boot_e820_entry *tab, unsigned int max,
		    unsigned int *nr, uint64_t addr, uint64_t size,
		    uint32_t type)
{
	if (*nr >= max)
		return -ENOSPC;
	tab[*nr].addr = addr;
	tab[*nr].size = size;
	tab[*nr].type = type;
	(*nr)++;
	return 0;
}

int e820_build(struct boot_e820_entry *tab, unsigned int max,
	       uint64_t ram_size)
{
	uint64_t low = layout_low_ram_end(ram_size);
	unsigned int nr = 0;
	int err;

	if (ram_size <= LAYOUT_HIMEM_START)
		return -EINVAL;
	err = e820_add(tab, max, &nr, 0, LAYOUT_LOW_RAM_END, E820_RAM);
	if (!err)
		err = e820_add(tab, max, &nr, LAYOUT_LOW_RAM_END,
			       LAYOUT_HIMEM_START - LAYOUT_LOW_RAM_END,
			       E820_RESERVED);
	if (!err)
		err = e820_add(tab, max, &nr, LAYOUT_HIMEM_START,
			       low - LAYOUT_HIMEM_START, E820_RAM);
	if (!err && ram_size > low)
		err = e820_add(tab, max, &nr, LAYOUT_HIGH_RAM_START,
			       ram_size - low, E820_RAM);
	return err ? err : (int)nr;
}

size_t bootparams_cmdline_max(const struct kernel_image *k)
{
	if (k->cmdline_max < LAYOUT_CMDLINE_MAX - 1)
		return k->cmdline_max;
	return LAYOUT_CMDLINE_MAX - 1;
}

/* Exclusive upper bound for initrd bytes: below the hole and the limit. */
static uint64_t initrd_top(const struct kernel_image *k, uint64_t ram_size)
{
	uint64_t top = layout_low_ram_end(ram_size);
	uint64_t max = (uint64_t)k->initrd_addr_max + 1;

	return top < max ? top : max;
}

int bootparams_place_initrd(const struct kernel_image *k, uint64_t ram_size,
			    uint64_t initrd_size, uint64_t *gpa)
{
	uint64_t top = initrd_top(k, ram_size);
	uint64_t addr;

	if (initrd_size > UINT32_MAX)
		return -E2BIG;
	if (initrd_size > top)
		return -ENOMEM;
	addr = (top - initrd_size) & ~(LAYOUT_PAGE_SIZE - 1);
	if (addr < k->end)
		return -ENOMEM;
	*gpa = addr;
	return 0;
}

static bool initrd_ok(const struct kernel_image *k, uint64_t ram_size,
		      uint64_t gpa, uint64_t size)
{
	uint64_t top = initrd_top(k, ram_size);

	return size <= UINT32_MAX && gpa >= k->end && gpa <= top &&
	       size <= top - gpa;
}

static void synth_header(struct setup_header *hdr)
{
	hdr->boot_flag = BOOT_FLAG_MAGIC;
	hdr->header = HDRS_MAGIC;
	hdr->version = SYNTH_VERSION;
	hdr->kernel_alignment = SYNTH_KERNEL_ALIGN;
}

int bootparams_build(struct boot_params *bp, const struct kernel_image *k,
		     uint64_t ram_size, size_t cmdline_len,
		     uint64_t initrd_gpa, uint64_t initrd_size)
{
	int nr;

	if (cmdline_len > bootparams_cmdline_max(k))
		return -E2BIG;
	if (initrd_size && !initrd_ok(k, ram_size, initrd_gpa, initrd_size))
		return -EINVAL;
	memset(bp, 0, sizeof(*bp));
	nr = e820_build(bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE, ram_size);
	if (nr < 0)
		return nr;
	bp->e820_entries = nr;
	if (k->format == KERNEL_BZIMAGE)
		memcpy(&bp->hdr, &k->hdr, k->hdr_len);
	else
		synth_header(&bp->hdr);
	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.cmd_line_ptr = LAYOUT_CMDLINE_ADDR;
	if (initrd_size) {
		bp->hdr.ramdisk_image = initrd_gpa;
		bp->hdr.ramdisk_size = initrd_size;
	}
	return 0;
}

int bootparams_write(struct guest_mem *gm, const struct kernel_image *k,
		     const char *cmdline, uint64_t initrd_gpa,
		     uint64_t initrd_size)
{
	struct boot_params bp;
	size_t len = strlen(cmdline);
	int err;

	err = bootparams_build(&bp, k, gm->size, len, initrd_gpa,
			       initrd_size);
	if (err)
		return err;
	err = gm_write(gm, LAYOUT_CMDLINE_ADDR, cmdline, len + 1);
	if (err)
		return err;
	return gm_write(gm, LAYOUT_ZERO_PAGE_ADDR, &bp, sizeof(bp));
}
