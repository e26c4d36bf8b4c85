#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "images.h"
#include "kernel.h"

#define SUITE	"kernel"
#define MiB	(1ULL << 20)
#define GiB	(1ULL << 30)
#define RAM	(512 * MiB)

static uint8_t img[0x4000];
static struct kernel_image k;
static char why[KERNEL_WHY_MAX];

static int parse(size_t len, uint64_t ram)
{
	return kernel_parse(img, len, ram, &k, why, sizeof(why));
}

/* Every rejection must come with a one-line reason for the user. */
static void expect_reject(struct check *c, size_t len, uint64_t ram, int err)
{
	CHECK_INT(c, parse(len, ram), err);
	CHECK(c, why[0] != '\0');
	CHECK(c, !strchr(why, '\n'));
}

static void test_elf_good(struct check *c)
{
	size_t len = make_elf(img);

	if (!CHECK_INT(c, parse(len, RAM), 0))
		return;
	CHECK_INT(c, k.format, KERNEL_ELF);
	CHECK_U64(c, k.nr_segments, 2);
	CHECK_U64(c, k.entry, ELF_ENTRY);
	CHECK_U64(c, k.seg[0].offset, ELF_SEG0_OFFSET);
	CHECK_U64(c, k.seg[0].gpa, ELF_SEG0_PADDR);
	CHECK_U64(c, k.seg[0].filesz, ELF_SEG0_SIZE);
	CHECK_U64(c, k.seg[0].memsz, ELF_SEG0_SIZE);
	CHECK_U64(c, k.seg[1].offset, ELF_SEG1_OFFSET);
	CHECK_U64(c, k.seg[1].gpa, ELF_SEG1_PADDR);
	CHECK_U64(c, k.seg[1].filesz, ELF_SEG1_FILESZ);
	CHECK_U64(c, k.seg[1].memsz, ELF_SEG1_MEMSZ);
	CHECK_U64(c, k.end, ELF_SEG1_PADDR + ELF_SEG1_MEMSZ);
	CHECK_U64(c, k.cmdline_max, 2047);
	CHECK_U64(c, k.initrd_addr_max, 0x7fffffff);
	CHECK_U64(c, k.hdr_len, 0);
}

static struct guest_mem *alloc_mem(struct check *c, uint64_t size)
{
	static struct guest_mem gm;
	void *p = NULL;

	if (!CHECK(c, posix_memalign(&p, 4096, size) == 0))
		return NULL;
	memset(p, 0xff, size);
	if (!CHECK_INT(c, guest_mem_init(&gm, p, size, 0xc0000000ULL,
					 0x100000000ULL), 0)) {
		free(p);
		return NULL;
	}
	return &gm;
}

static void test_elf_load(struct check *c)
{
	size_t len = make_elf(img);
	struct guest_mem *gm;
	uint64_t i;

	if (!CHECK_INT(c, parse(len, 32 * MiB), 0))
		return;
	gm = alloc_mem(c, 32 * MiB);
	if (!gm)
		return;
	if (CHECK_INT(c, kernel_load(&k, img, len, gm), 0)) {
		for (i = 0; i < ELF_SEG0_SIZE; i++)
			CHECK_U64(c, gm->base[ELF_SEG0_PADDR + i],
				  image_byte(i));
		for (i = 0; i < ELF_SEG1_FILESZ; i++)
			CHECK_U64(c, gm->base[ELF_SEG1_PADDR + i],
				  image_byte(ELF_SEG1_OFFSET -
					     ELF_SEG0_OFFSET + i));
		for (; i < ELF_SEG1_MEMSZ; i++)
			CHECK_U64(c, gm->base[ELF_SEG1_PADDR + i], 0);
		CHECK_U64(c, gm->base[ELF_SEG1_PADDR + ELF_SEG1_MEMSZ], 0xff);
	}
	free(gm->base);
}

static void test_elf_truncated_header(struct check *c)
{
	make_elf(img);
	expect_reject(c, 63, RAM, -EINVAL);
}

static void test_elf_truncated_segment(struct check *c)
{
	make_elf(img);
	expect_reject(c, ELF_SEG1_OFFSET + 0x10, RAM, -EINVAL);
}

static void test_elf_wrong_magic(struct check *c)
{
	size_t len = make_elf(img);

	img[1] = 'X';
	expect_reject(c, len, RAM, -ENOEXEC);
}

static void test_tiny_inputs(struct check *c)
{
	memset(img, 0, 8);
	expect_reject(c, 0, RAM, -ENOEXEC);
	expect_reject(c, 1, RAM, -ENOEXEC);
	memcpy(img, "\177ELF", 4);
	expect_reject(c, 4, RAM, -EINVAL);
}

static void test_elf_32bit(struct check *c)
{
	size_t len = make_elf(img);

	img[4] = 1;
	expect_reject(c, len, RAM, -ENOEXEC);
}

static void test_elf_big_endian(struct check *c)
{
	size_t len = make_elf(img);

	img[5] = 2;
	expect_reject(c, len, RAM, -ENOEXEC);
}

static void test_elf_wrong_machine(struct check *c)
{
	size_t len = make_elf(img);

	put16(img + 0x12, 3);
	expect_reject(c, len, RAM, -ENOEXEC);
	CHECK(c, strstr(why, "x86-64") != NULL);
}

static void test_elf_not_exec(struct check *c)
{
	size_t len = make_elf(img);

	put16(img + 0x10, 3);
	expect_reject(c, len, RAM, -ENOEXEC);
}

static void test_elf_bad_phentsize(struct check *c)
{
	size_t len = make_elf(img);

	put16(img + 0x36, 32);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_elf_phdrs_past_eof(struct check *c)
{
	size_t len = make_elf(img);

	put16(img + 0x38, 1000);
	expect_reject(c, len, RAM, -EINVAL);
	make_elf(img);
	put64(img + 0x20, 0xfffffffffffffff0ULL);
	expect_reject(c, len, RAM, -EINVAL);
	make_elf(img);
	put16(img + 0x38, 0);
	expect_reject(c, len, RAM, -EINVAL);
	put16(img + 0x38, 0xffff);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_elf_segment_past_eof(struct check *c)
{
	size_t len = make_elf(img);

	put64(img + ELF_PHDR(1) + ELF_P_FILESZ, 0x1000);
	expect_reject(c, len, RAM, -EINVAL);
	make_elf(img);
	put64(img + ELF_PHDR(1) + ELF_P_OFFSET, 0xfffffffffffff000ULL);
	put64(img + ELF_PHDR(1) + ELF_P_FILESZ, 0x2000);
	put64(img + ELF_PHDR(1) + ELF_P_MEMSZ, 0x2000);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_elf_filesz_over_memsz(struct check *c)
{
	size_t len = make_elf(img);

	put64(img + ELF_PHDR(1) + ELF_P_MEMSZ, ELF_SEG1_FILESZ - 1);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_elf_segment_beyond_ram(struct check *c)
{
	size_t len = make_elf(img);

	/* The bss of segment 1 ends at 0x1203000: one byte short. */
	expect_reject(c, len, ELF_SEG1_PADDR + ELF_SEG1_MEMSZ - 1, -ENOMEM);
	CHECK_INT(c, parse(len, ELF_SEG1_PADDR + ELF_SEG1_MEMSZ), 0);
	put64(img + ELF_PHDR(1) + ELF_P_PADDR, 0xfffffffffffff000ULL);
	expect_reject(c, len, RAM, -ENOMEM);
	/* Past the 1 GiB identity map even though RAM is there. */
	put64(img + ELF_PHDR(1) + ELF_P_PADDR, GiB - 0x1000);
	expect_reject(c, len, 2 * GiB, -ENOMEM);
	/* Inside the MMIO hole of a big guest. */
	put64(img + ELF_PHDR(1) + ELF_P_PADDR, 0xd0000000ULL);
	expect_reject(c, len, 8 * GiB, -ENOMEM);
	/* Below 1 MiB, over the zero page and page tables. */
	put64(img + ELF_PHDR(1) + ELF_P_PADDR, 0x7000);
	expect_reject(c, len, RAM, -ENOMEM);
}

static void test_elf_entry_outside(struct check *c)
{
	size_t len = make_elf(img);

	put64(img + 0x18, ELF_SEG0_PADDR + ELF_SEG0_SIZE);
	expect_reject(c, len, RAM, -EINVAL);
	/* In the bss: not loaded from the file, so not code. */
	put64(img + 0x18, ELF_SEG1_PADDR + ELF_SEG1_FILESZ);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_elf_no_load(struct check *c)
{
	size_t len = make_elf(img);

	put32(img + ELF_PHDR(0) + ELF_P_TYPE, 4);
	put32(img + ELF_PHDR(1) + ELF_P_TYPE, 4);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_elf_overlap(struct check *c)
{
	size_t len = make_elf(img);

	put64(img + ELF_PHDR(1) + ELF_P_PADDR, ELF_SEG0_PADDR + 0x800);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_bz_good(struct check *c)
{
	size_t len = make_bzimage(img);

	if (!CHECK_INT(c, parse(len, RAM), 0))
		return;
	CHECK_INT(c, k.format, KERNEL_BZIMAGE);
	CHECK_U64(c, k.entry, 0x100200);
	CHECK_U64(c, k.nr_segments, 1);
	CHECK_U64(c, k.seg[0].offset, BZ_PM_OFFSET);
	CHECK_U64(c, k.seg[0].filesz, BZ_PM_SIZE);
	CHECK_U64(c, k.seg[0].memsz, BZ_PM_SIZE);
	CHECK_U64(c, k.seg[0].gpa, 0x100000);
	/* Runtime start 0x100000 rounded up to 2 MiB, plus init_size. */
	CHECK_U64(c, k.end, 0x200000 + BZ_INIT_SIZE);
	CHECK_U64(c, k.hdr_len, 0x26c - 0x1f1);
	CHECK_MEM(c, &k.hdr, img + 0x1f1, 0x26c - 0x1f1);
	CHECK_U64(c, k.cmdline_max, BZ_CMDLINE_SIZE);
	CHECK_U64(c, k.initrd_addr_max, 0x7fffffff);
}

static void test_bz_load(struct check *c)
{
	size_t len = make_bzimage(img);
	struct guest_mem *gm;
	uint64_t i;

	if (!CHECK_INT(c, parse(len, 16 * MiB), 0))
		return;
	gm = alloc_mem(c, 16 * MiB);
	if (!gm)
		return;
	if (CHECK_INT(c, kernel_load(&k, img, len, gm), 0))
		for (i = 0; i < BZ_PM_SIZE; i++)
			CHECK_U64(c, gm->base[0x100000 + i], image_byte(i));
	free(gm->base);
}

static void test_bz_setup_sects_zero(struct check *c)
{
	size_t len = make_bzimage(img);

	/* Zero means four, so protected mode starts at (4 + 1) * 512. */
	img[0x1f1] = 0;
	put32(img + 0x1f4, (len - 0xa00) / 16);
	if (CHECK_INT(c, parse(len, RAM), 0)) {
		CHECK_U64(c, k.seg[0].offset, 0xa00);
		CHECK_U64(c, k.seg[0].filesz, len - 0xa00);
	}
}

static void test_bz_truncated(struct check *c)
{
	size_t len = make_bzimage(img);

	expect_reject(c, 0x260, RAM, -EINVAL);
	expect_reject(c, BZ_PM_OFFSET, RAM, -EINVAL);
	expect_reject(c, len - 16, RAM, -EINVAL);
	CHECK(c, strstr(why, "truncated") != NULL);
	/* Too short to hold the 64-bit entry at +0x200. */
	put32(img + 0x1f4, 0);
	expect_reject(c, BZ_PM_OFFSET + 0x200, RAM, -EINVAL);
}

static void test_bz_no_hdrs(struct check *c)
{
	size_t len = make_bzimage(img);

	img[0x205] = 'X';
	expect_reject(c, len, RAM, -ENOEXEC);
	CHECK(c, strstr(why, "HdrS") != NULL);
}

static void test_bz_bad_boot_flag(struct check *c)
{
	size_t len = make_bzimage(img);

	put16(img + 0x1fe, 0x55aa);
	expect_reject(c, len, RAM, -ENOEXEC);
}

static void test_bz_old_protocol(struct check *c)
{
	size_t len = make_bzimage(img);

	put16(img + 0x206, 0x0206);
	expect_reject(c, len, RAM, -ENOEXEC);
	CHECK_STR(c, why, "bzImage boot protocol 2.06 is too old (need 2.12 for 64-bit entry)");
	put16(img + 0x206, 0x020b);
	expect_reject(c, len, RAM, -ENOEXEC);
	put16(img + 0x206, 0x020c);
	CHECK_INT(c, parse(len, RAM), 0);
}

static void test_bz_no_kernel_64(struct check *c)
{
	size_t len = make_bzimage(img);

	put16(img + 0x236, 0x0002);
	expect_reject(c, len, RAM, -ENOEXEC);
	CHECK(c, strstr(why, "XLF_KERNEL_64") != NULL);
}

static void test_bz_not_loaded_high(struct check *c)
{
	size_t len = make_bzimage(img);

	img[0x211] = 0;
	expect_reject(c, len, RAM, -ENOEXEC);
}

static void test_bz_beyond_ram(struct check *c)
{
	size_t len = make_bzimage(img);

	expect_reject(c, len, 0x200000 + BZ_INIT_SIZE - 1, -ENOMEM);
	CHECK_INT(c, parse(len, 0x200000 + BZ_INIT_SIZE), 0);
	/* init_size past the 1 GiB identity map. */
	put32(img + 0x260, 0x40000000);
	expect_reject(c, len, 4 * GiB, -ENOMEM);
}

static void test_bz_bad_alignment(struct check *c)
{
	size_t len = make_bzimage(img);

	put32(img + 0x230, 0x300000);
	expect_reject(c, len, RAM, -EINVAL);
	put32(img + 0x230, 0);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_bz_not_relocatable(struct check *c)
{
	size_t len = make_bzimage(img);

	img[0x234] = 0;
	if (CHECK_INT(c, parse(len, RAM), 0))
		CHECK_U64(c, k.end, 0x1000000 + BZ_INIT_SIZE);
	put64(img + 0x258, 0xffffffffffff0000ULL);
	expect_reject(c, len, RAM, -EINVAL);
}

static void test_bz_short_header(struct check *c)
{
	size_t len = make_bzimage(img);
	uint8_t zero[0x26c - 0x23c] = { 0 };

	/* Header ends right after cmdline_size: later fields do not exist. */
	img[0x201] = 0x3a;
	if (CHECK_INT(c, parse(len, RAM), 0)) {
		CHECK_U64(c, k.hdr_len, 0x23c - 0x1f1);
		CHECK_MEM(c, (uint8_t *)&k.hdr + 0x4b, zero, sizeof(zero));
		/* init_size is gone; the 2 MiB-aligned runtime start remains. */
		CHECK_U64(c, k.end, BZ_KERNEL_ALIGN);
	}
	img[0x201] = 0x39;
	expect_reject(c, len, RAM, -EINVAL);
}

static int map_file(const char *path, const uint8_t **p, size_t *len)
{
	struct stat st;
	void *m;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size == 0) {
		close(fd);
		return -EINVAL;
	}
	m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	*p = m;
	*len = st.st_size;
	return 0;
}

static void load_real(struct check *c, const uint8_t *file, size_t len)
{
	struct guest_mem gm;
	void *ram;

	ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!CHECK(c, ram != MAP_FAILED))
		return;
	if (CHECK_INT(c, guest_mem_init(&gm, ram, RAM, 0xc0000000ULL,
					0x100000000ULL), 0) &&
	    CHECK_INT(c, kernel_load(&k, file, len, &gm), 0))
		CHECK_MEM(c, gm.base + k.seg[0].gpa, file + k.seg[0].offset,
			  64);
	munmap(ram, RAM);
}

/* Parse and load a real build; the kernel build may not have finished. */
static void real_image(struct check *c, const char *path,
		       enum kernel_format format)
{
	const uint8_t *file;
	size_t len;

	if (map_file(path, &file, &len)) {
		check_skip(c, "%s not present", path);
		return;
	}
	if (kernel_parse(file, len, RAM, &k, why, sizeof(why)))
		check_fail(c, "%s: %s", path, why);
	else if (CHECK_INT(c, k.format, format))
		load_real(c, file, len);
	munmap((void *)file, len);
}

/* make image puts them in build/; the tests run from host/. */
static void real_build_image(struct check *c, const char *name,
			     enum kernel_format format)
{
	const char *dir = getenv("AGENTBOX_BUILD") ?: "../build";
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	real_image(c, path, format);
}

static void test_real_vmlinux(struct check *c)
{
	real_build_image(c, "vmlinux", KERNEL_ELF);
}

static void test_real_bzimage(struct check *c)
{
	real_build_image(c, "bzImage", KERNEL_BZIMAGE);
}

int main(void)
{
	RUN(SUITE, test_elf_good);
	RUN(SUITE, test_elf_load);
	RUN(SUITE, test_elf_truncated_header);
	RUN(SUITE, test_elf_truncated_segment);
	RUN(SUITE, test_elf_wrong_magic);
	RUN(SUITE, test_tiny_inputs);
	RUN(SUITE, test_elf_32bit);
	RUN(SUITE, test_elf_big_endian);
	RUN(SUITE, test_elf_wrong_machine);
	RUN(SUITE, test_elf_not_exec);
	RUN(SUITE, test_elf_bad_phentsize);
	RUN(SUITE, test_elf_phdrs_past_eof);
	RUN(SUITE, test_elf_segment_past_eof);
	RUN(SUITE, test_elf_filesz_over_memsz);
	RUN(SUITE, test_elf_segment_beyond_ram);
	RUN(SUITE, test_elf_entry_outside);
	RUN(SUITE, test_elf_no_load);
	RUN(SUITE, test_elf_overlap);
	RUN(SUITE, test_bz_good);
	RUN(SUITE, test_bz_load);
	RUN(SUITE, test_bz_setup_sects_zero);
	RUN(SUITE, test_bz_truncated);
	RUN(SUITE, test_bz_no_hdrs);
	RUN(SUITE, test_bz_bad_boot_flag);
	RUN(SUITE, test_bz_old_protocol);
	RUN(SUITE, test_bz_no_kernel_64);
	RUN(SUITE, test_bz_not_loaded_high);
	RUN(SUITE, test_bz_beyond_ram);
	RUN(SUITE, test_bz_bad_alignment);
	RUN(SUITE, test_bz_not_relocatable);
	RUN(SUITE, test_bz_short_header);
	RUN(SUITE, test_real_vmlinux);
	RUN(SUITE, test_real_bzimage);
	return check_exit();
}
