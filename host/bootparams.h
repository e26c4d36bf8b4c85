#ifndef AGENTBOX_BOOTPARAMS_H
#define AGENTBOX_BOOTPARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "guest_mem.h"
#include "kernel.h"

/*
 * e820 map of a guest with ram_size bytes: RAM [0, 0x9fc00), reserved up
 * to 1 MiB, RAM from 1 MiB to the MMIO hole, the rest above 4 GiB.
 * Returns the number of entries written to tab, or -EINVAL if ram_size
 * does not reach past 1 MiB, or -ENOSPC if max is too small.
 */
int e820_build(struct boot_e820_entry *tab, unsigned int max,
	       uint64_t ram_size);

/* Longest command line (excluding the NUL) the kernel and layout allow. */
size_t bootparams_cmdline_max(const struct kernel_image *k);

/*
 * Choose where an initrd of initrd_size bytes goes: page-aligned, as high
 * as possible below both the MMIO hole and the kernel's initrd_addr_max,
 * and above the kernel. -ENOMEM if it does not fit, -E2BIG if the size
 * does not fit the 32-bit ramdisk_size field.
 */
int bootparams_place_initrd(const struct kernel_image *k, uint64_t ram_size,
			    uint64_t initrd_size, uint64_t *gpa);

/*
 * Fill a zero page for kernel k in a guest of ram_size bytes, with the
 * command line (cmdline_len bytes plus NUL) at LAYOUT_CMDLINE_ADDR and an
 * optional initrd (initrd_size 0 for none). -E2BIG if the command line is
 * too long for the kernel, -EINVAL for a misplaced initrd.
 */
int bootparams_build(struct boot_params *bp, const struct kernel_image *k,
		     uint64_t ram_size, size_t cmdline_len,
		     uint64_t initrd_gpa, uint64_t initrd_size);

/* Build the zero page and write it and the command line to guest memory. */
int bootparams_write(struct guest_mem *gm, const struct kernel_image *k,
		     const char *cmdline, uint64_t initrd_gpa,
		     uint64_t initrd_size);

#endif /* AGENTBOX_BOOTPARAMS_H */
