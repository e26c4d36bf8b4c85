/*
 * Write a few valid inputs for each fuzz target, so the fuzzers start
 * from real structure instead of having to discover "HdrS" and ring
 * layouts byte by byte.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "fuzz_input.h"
#include "images.h"

#define VQ_MEM		0x6000
#define VQ_DESC		0x1000
#define VQ_AVAIL	0x2000
#define VQ_USED		0x3000
#define VQ_TABLE	0x4000
#define VQ_SHIFT	3	/* 8 entries */

static int write_file(const char *dir, const char *name, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	char path[4096];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (fwrite(a, 1, alen, f) != alen || fwrite(b, 1, blen, f) != blen)
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	return err;
}

static int make_dir(const char *base, const char *name, char *out,
		    size_t size)
{
	snprintf(out, size, "%s/%s", base, name);
	if (mkdir(base, 0755) && errno != EEXIST)
		return -errno;
	if (mkdir(out, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int kernel_seeds(const char *base)
{
	static uint8_t img[0x4000];
	char dir[4096];
	uint8_t sel;
	size_t len;
	int err;

	err = make_dir(base, "fuzz_kernel", dir, sizeof(dir));
	if (err)
		return err;
	len = make_elf(img);
	sel = FUZZ_KERNEL_BIG | 1;		/* 512 MiB, parse only */
	err = write_file(dir, "elf-512m", &sel, 1, img, len);
	sel = 72;				/* 19 MiB, loaded */
	if (!err)
		err = write_file(dir, "elf-19m", &sel, 1, img, len);
	len = make_bzimage(img);
	sel = 40;				/* 11 MiB, loaded */
	if (!err)
		err = write_file(dir, "bz-11m", &sel, 1, img, len);
	sel = FUZZ_KERNEL_BIG | 15;		/* 4 GiB */
	if (!err)
		err = write_file(dir, "bz-4g", &sel, 1, img, len);
	return err;
}

static void desc(uint8_t *mem, uint64_t table, unsigned int i, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem + table + 16 * i;

	put64(d, addr);
	put32(d + 8, len);
	put16(d + 12, flags);
	put16(d + 14, next);
}

/* Two chains: a direct read+write pair and an indirect three-buffer one. */
static void vq_image(uint8_t *mem)
{
	memset(mem, 0, VQ_MEM);
	desc(mem, VQ_DESC, 0, 0x5000, 16, 1, 1);
	desc(mem, VQ_DESC, 1, 0x5100, 64, 2, 0);
	desc(mem, VQ_DESC, 2, VQ_TABLE, 48, 4, 0);
	desc(mem, VQ_TABLE, 0, 0x5200, 8, 1, 1);
	desc(mem, VQ_TABLE, 1, 0x5300, 8, 3, 2);
	desc(mem, VQ_TABLE, 2, 0x5400, 8, 2, 0);
	put16(mem + VQ_AVAIL + 2, 2);		/* avail.idx */
	put16(mem + VQ_AVAIL + 4, 0);		/* ring[0] = chain 0 */
	put16(mem + VQ_AVAIL + 6, 2);		/* ring[1] = chain 2 */
}

static int virtq_seeds(const char *base)
{
	static uint8_t mem[VQ_MEM];
	struct fuzz_virtq_hdr h = {
		.size_shift = VQ_SHIFT,
		.flags = FUZZ_VQ_INDIRECT,
		.desc = VQ_DESC,
		.avail = VQ_AVAIL,
		.used = VQ_USED,
	};
	char dir[4096];
	int err;

	err = make_dir(base, "fuzz_virtq", dir, sizeof(dir));
	if (err)
		return err;
	vq_image(mem);
	err = write_file(dir, "two-chains", &h, sizeof(h), mem, VQ_MEM);
	/* The same with a one-page hole over the last data page. */
	h.hole_page = 5;
	h.hole_pages = 1;
	h.flags |= FUZZ_VQ_NO_EMPTY;
	if (!err)
		err = write_file(dir, "hole", &h, sizeof(h), mem, VQ_MEM);
	return err;
}

int main(int argc, char **argv)
{
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS-DIR\n");
		return 2;
	}
	err = kernel_seeds(argv[1]);
	if (!err)
		err = virtq_seeds(argv[1]);
	if (err) {
		fprintf(stderr, "mkseeds: %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	return 0;
}
