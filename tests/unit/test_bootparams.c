/*
 * Zero page checks against values written out from boot.rst and
 * zero-page.rst, read back through raw byte offsets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bootparams.h"
#include "check.h"
#include "images.h"
#include "kernel.h"

#define SUITE	"bootparams"
#define MiB	(1ULL << 20)
#define GiB	(1ULL << 30)
#define RAM	(32 * MiB)

#define ZP	0x7000		/* zero page */
#define CMDLINE	0x20000

static uint8_t img[0x4000];
static struct kernel_image k;

static bool parse_elf(struct check *c, uint64_t ram)
{
	size_t len = make_elf(img);

	return CHECK_INT(c, kernel_parse(img, len, ram, &k, NULL, 0), 0);
}

static bool parse_bz(struct check *c, uint64_t ram)
{
	size_t len = make_bzimage(img);

	return CHECK_INT(c, kernel_parse(img, len, ram, &k, NULL, 0), 0);
}

static struct guest_mem *alloc_mem(struct check *c)
{
	static struct guest_mem gm;
	void *p = NULL;

	if (!CHECK(c, posix_memalign(&p, 4096, RAM) == 0))
		return NULL;
	/* Garbage everywhere shows any byte the builder forgot to clear. */
	memset(p, 0xa5, RAM);
	if (!CHECK_INT(c, guest_mem_init(&gm, p, RAM, 0xc0000000ULL,
					 0x100000000ULL), 0)) {
		free(p);
		return NULL;
	}
	return &gm;
}

/* 20-byte e820 entries: u64 addr, u64 size, u32 type, little-endian. */
static const uint8_t e820_32m[3][20] = {
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x00, 0xfc, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x01, 0x00, 0x00, 0x00 },
	{ 0x00, 0xfc, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x00, 0x04, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x02, 0x00, 0x00, 0x00 },
	{ 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
	  0x00, 0x00, 0xf0, 0x01, 0x00, 0x00, 0x00, 0x00,
	  0x01, 0x00, 0x00, 0x00 },
};

static void test_zero_page_vmlinux(struct check *c)
{
	struct guest_mem *gm;
	uint8_t *zp;
	uint8_t zero[0x1e8];

	if (!parse_elf(c, RAM))
		return;
	gm = alloc_mem(c);
	if (!gm)
		return;
	if (!CHECK_INT(c, bootparams_write(gm, &k, "console=ttyS0", 0, 0), 0))
		goto free_mem;
	zp = gm->base + ZP;
	memset(zero, 0, sizeof(zero));
	CHECK_MEM(c, zp, zero, sizeof(zero));
	CHECK_U64(c, zp[0x1e8], 3);			/* e820_entries */
	CHECK_MEM(c, zp + 0x2d0, e820_32m, sizeof(e820_32m));
	CHECK_U64(c, zp[0x2d0 + sizeof(e820_32m)], 0);
	CHECK_U64(c, get16(zp + 0x1fe), 0xaa55);	/* boot_flag */
	CHECK_MEM(c, zp + 0x202, "HdrS", 4);
	CHECK_U64(c, get16(zp + 0x206), 0x020c);	/* version */
	CHECK_U64(c, zp[0x210], 0xff);			/* type_of_loader */
	CHECK_U64(c, get32(zp + 0x218), 0);		/* ramdisk_image */
	CHECK_U64(c, get32(zp + 0x21c), 0);		/* ramdisk_size */
	CHECK_U64(c, get32(zp + 0x228), CMDLINE);	/* cmd_line_ptr */
	CHECK_U64(c, get32(zp + 0x230), 0x01000000);	/* kernel_alignment */
	CHECK_U64(c, zp[0xfff], 0);
	CHECK_MEM(c, gm->base + CMDLINE, "console=ttyS0", 14);
free_mem:
	free(gm->base);
}

static void test_zero_page_bzimage(struct check *c)
{
	struct guest_mem *gm;
	uint8_t *zp;

	if (!parse_bz(c, RAM))
		return;
	gm = alloc_mem(c);
	if (!gm)
		return;
	if (!CHECK_INT(c, bootparams_write(gm, &k, "quiet", 0x1800000,
					   0x12345), 0))
		goto free_mem;
	zp = gm->base + ZP;
	CHECK_U64(c, zp[0x1e8], 3);
	CHECK_MEM(c, zp + 0x2d0, e820_32m, sizeof(e820_32m));
	/* Copied from the image: up to 0x26c, except what the loader sets. */
	CHECK_MEM(c, zp + 0x1f1, img + 0x1f1, 0x210 - 0x1f1);
	CHECK_U64(c, zp[0x210], 0xff);
	CHECK_MEM(c, zp + 0x211, img + 0x211, 0x218 - 0x211);
	CHECK_U64(c, get32(zp + 0x218), 0x1800000);
	CHECK_U64(c, get32(zp + 0x21c), 0x12345);
	CHECK_MEM(c, zp + 0x220, img + 0x220, 0x228 - 0x220);
	CHECK_U64(c, get32(zp + 0x228), CMDLINE);
	CHECK_MEM(c, zp + 0x22c, img + 0x22c, 0x26c - 0x22c);
	CHECK_U64(c, zp[0x26c], 0);
	CHECK_U64(c, zp[0x1ef], 0);			/* sentinel clear */
	CHECK_MEM(c, gm->base + CMDLINE, "quiet", 6);
free_mem:
	free(gm->base);
}

static void test_e820_small(struct check *c)
{
	struct boot_e820_entry e[4];

	CHECK_INT(c, e820_build(e, 4, 2 * MiB), 3);
	CHECK_U64(c, e[2].addr, 0x100000);
	CHECK_U64(c, e[2].size, 0x100000);
	CHECK_INT(c, e820_build(e, 4, 1 * MiB), -EINVAL);
	CHECK_INT(c, e820_build(e, 2, 2 * MiB), -ENOSPC);
}

static void test_e820_exactly_3g(struct check *c)
{
	struct boot_e820_entry e[4];

	if (!CHECK_INT(c, e820_build(e, 4, 3 * GiB), 3))
		return;
	CHECK_U64(c, e[2].addr, 0x100000);
	CHECK_U64(c, e[2].size, 0xc0000000ULL - 0x100000);
	CHECK_U64(c, e[2].type, 1);
}

static void test_e820_above_4g(struct check *c)
{
	struct boot_e820_entry e[4];

	if (!CHECK_INT(c, e820_build(e, 4, 6 * GiB), 4))
		return;
	CHECK_U64(c, e[0].addr, 0);
	CHECK_U64(c, e[0].size, 0x9fc00);
	CHECK_U64(c, e[0].type, 1);
	CHECK_U64(c, e[1].addr, 0x9fc00);
	CHECK_U64(c, e[1].size, 0x60400);
	CHECK_U64(c, e[1].type, 2);
	CHECK_U64(c, e[2].addr, 0x100000);
	CHECK_U64(c, e[2].size, 0xbff00000ULL);
	CHECK_U64(c, e[2].type, 1);
	/* 6 GiB - 3 GiB below the hole = 3 GiB from 4 GiB up. */
	CHECK_U64(c, e[3].addr, 0x100000000ULL);
	CHECK_U64(c, e[3].size, 0xc0000000ULL);
	CHECK_U64(c, e[3].type, 1);
}

static void test_cmdline_too_long_vmlinux(struct check *c)
{
	struct boot_params bp;

	if (!parse_elf(c, RAM))
		return;
	/* COMMAND_LINE_SIZE 2048 holds 2047 characters and the NUL. */
	CHECK_U64(c, bootparams_cmdline_max(&k), 2047);
	CHECK_INT(c, bootparams_build(&bp, &k, RAM, 2047, 0, 0), 0);
	CHECK_INT(c, bootparams_build(&bp, &k, RAM, 2048, 0, 0), -E2BIG);
}

static void test_cmdline_too_long_bzimage(struct check *c)
{
	struct boot_params bp;
	struct guest_mem *gm;
	char line[300];

	make_bzimage(img);
	put32(img + 0x238, 255);		/* cmdline_size */
	if (!CHECK_INT(c, kernel_parse(img, BZ_LEN, RAM, &k, NULL, 0), 0))
		return;
	CHECK_INT(c, bootparams_build(&bp, &k, RAM, 255, 0, 0), 0);
	CHECK_INT(c, bootparams_build(&bp, &k, RAM, 256, 0, 0), -E2BIG);
	gm = alloc_mem(c);
	if (!gm)
		return;
	memset(line, 'x', 256);
	line[256] = '\0';
	CHECK_INT(c, bootparams_write(gm, &k, line, 0, 0), -E2BIG);
	/* Nothing may be half-written on failure. */
	CHECK_U64(c, gm->base[CMDLINE], 0xa5);
	CHECK_U64(c, gm->base[ZP], 0xa5);
	free(gm->base);
}

static void test_cmdline_huge_kernel_limit(struct check *c)
{
	if (!parse_bz(c, RAM))
		return;
	/* The kernel may accept more than the 64 KiB the layout reserves. */
	k.cmdline_max = 0x7fffffff;
	CHECK_U64(c, bootparams_cmdline_max(&k), 0xffff);
}

static void test_initrd_placement(struct check *c)
{
	uint64_t gpa = 0;

	if (!parse_elf(c, 64 * MiB))
		return;
	CHECK_INT(c, bootparams_place_initrd(&k, 64 * MiB, 0x1234, &gpa), 0);
	CHECK_U64(c, gpa, 0x3ffe000);
	/* Below the hole, and below initrd_addr_max 0x7fffffff. */
	CHECK_INT(c, bootparams_place_initrd(&k, 8 * GiB, 0x1000, &gpa), 0);
	CHECK_U64(c, gpa, 0x7ffff000);
	k.initrd_addr_max = 0xffffffff;
	CHECK_INT(c, bootparams_place_initrd(&k, 8 * GiB, 0x1000, &gpa), 0);
	CHECK_U64(c, gpa, 0xbffff000);
	/* Must stay above the kernel, which ends at 0x1203000. */
	CHECK_INT(c, bootparams_place_initrd(&k, 64 * MiB,
					     64 * MiB - 0x1203000, &gpa), 0);
	CHECK_U64(c, gpa, 0x1203000);
	CHECK_INT(c, bootparams_place_initrd(&k, 64 * MiB,
					     64 * MiB - 0x1202fff, &gpa),
		  -ENOMEM);
	CHECK_INT(c, bootparams_place_initrd(&k, 64 * MiB, 128 * MiB, &gpa),
		  -ENOMEM);
	CHECK_INT(c, bootparams_place_initrd(&k, 8 * GiB, 0x100000000ULL, &gpa),
		  -E2BIG);
}

static void test_initrd_rejected(struct check *c)
{
	struct boot_params bp;

	if (!parse_elf(c, 64 * MiB))
		return;
	/* Over the kernel, past RAM, and past initrd_addr_max. */
	CHECK_INT(c, bootparams_build(&bp, &k, 64 * MiB, 4, 0x1000000, 0x1000),
		  -EINVAL);
	CHECK_INT(c, bootparams_build(&bp, &k, 64 * MiB, 4, 0x3fff000, 0x2000),
		  -EINVAL);
	CHECK_INT(c, bootparams_build(&bp, &k, 4 * GiB, 4, 0x7ffff000, 0x2000),
		  -EINVAL);
	CHECK_INT(c, bootparams_build(&bp, &k, 64 * MiB, 4, 0x3fff000, 0x1000),
		  0);
	CHECK_U64(c, bp.hdr.ramdisk_image, 0x3fff000);
	CHECK_U64(c, bp.hdr.ramdisk_size, 0x1000);
}

static void test_too_little_ram(struct check *c)
{
	struct boot_params bp;

	if (!parse_elf(c, RAM))
		return;
	CHECK_INT(c, bootparams_build(&bp, &k, 1 * MiB, 4, 0, 0), -EINVAL);
}

int main(void)
{
	RUN(SUITE, test_zero_page_vmlinux);
	RUN(SUITE, test_zero_page_bzimage);
	RUN(SUITE, test_e820_small);
	RUN(SUITE, test_e820_exactly_3g);
	RUN(SUITE, test_e820_above_4g);
	RUN(SUITE, test_cmdline_too_long_vmlinux);
	RUN(SUITE, test_cmdline_too_long_bzimage);
	RUN(SUITE, test_cmdline_huge_kernel_limit);
	RUN(SUITE, test_initrd_placement);
	RUN(SUITE, test_initrd_rejected);
	RUN(SUITE, test_too_little_ram);
	return check_exit();
}
