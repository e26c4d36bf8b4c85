/*
 * Boot preparation from real files: the command line we compose, every
 * input error as the user sees it, and the guest memory boot_load()
 * leaves behind (offsets from boot.rst and the MP spec, not our structs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "check.h"
#include "images.h"

#define SUITE	"boot"
#define MIB	(1ULL << 20)
#define INITRD_LEN	(100 * 1024)

static char dir[64];
static char why[512];
static struct boot b;

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static bool write_file(const char *name, const void *data, size_t len)
{
	char p[128];
	FILE *f;
	bool ok;

	path(p, sizeof(p), name);
	f = fopen(p, "wb");
	if (!f)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return !fclose(f) && ok;
}

static bool make_files(void)
{
	static uint8_t img[BZ_LEN > ELF_LEN ? BZ_LEN : ELF_LEN];
	static uint8_t initrd[INITRD_LEN];
	size_t i, len;

	snprintf(dir, sizeof(dir), "/tmp/agentbox-boot-XXXXXX");
	if (!mkdtemp(dir))
		return false;
	for (i = 0; i < sizeof(initrd); i++)
		initrd[i] = i * 13;
	len = make_bzimage(img);
	if (!write_file("bzImage", img, len) ||
	    !write_file("truncated", img, BZ_PM_OFFSET + 0x100) ||
	    !write_file("initrd", initrd, sizeof(initrd)) ||
	    !write_file("empty", "", 0) ||
	    !write_file("text", "hello, world\n", 13))
		return false;
	img[0x206] = 0x00;			/* version 2.00 */
	img[0x207] = 0x02;
	if (!write_file("old", img, len))
		return false;
	len = make_elf(img);
	return write_file("vmlinux", img, len);
}

static void remove_files(void)
{
	static const char *const names[] = {
		"bzImage", "truncated", "initrd", "empty", "text", "old",
		"vmlinux", "big-initrd",
	};
	char p[128];
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path(p, sizeof(p), names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static int prepare(const char *kernel, const char *initrd, uint64_t mem,
		   const char *mem_arg, const char *cmdline)
{
	char k[128], i[128];
	struct boot_config cfg = {
		.kernel = k,
		.initrd = initrd ? i : NULL,
		.cmdline = cmdline,
		.mem = mem,
		.mem_arg = mem_arg,
		.nr_virtio = 2,
	};

	if (kernel[0] == '/')
		snprintf(k, sizeof(k), "%s", kernel);
	else
		path(k, sizeof(k), kernel);
	if (initrd)
		path(i, sizeof(i), initrd);
	why[0] = '\0';
	return boot_prepare(&b, &cfg, why, sizeof(why));
}

/* why with the temp dir replaced by "D", for exact comparisons. */
static const char *reason(void)
{
	static char out[512];
	const char *p = why, *hit;
	size_t n = 0;

	while ((hit = strstr(p, dir)) && n < sizeof(out) - 2) {
		n += snprintf(out + n, sizeof(out) - n, "%.*s%s",
			      (int)(hit - p), p, "D");
		p = hit + strlen(dir);
	}
	snprintf(out + n, sizeof(out) - n, "%s", p);
	return out;
}

static void test_cmdline(struct check *c)
{
	struct cmdline cl;
	char buf[512];

	CHECK_INT(c, boot_build_cmdline(&cl, buf, sizeof(buf), 2, "quiet"), 0);
	CHECK_STR(c, buf, "console=ttyS0 reboot=t panic=-1 acpi=off "
		  "virtio_mmio.device=0x1000@0xd0001000:5 "
		  "virtio_mmio.device=0x1000@0xd0002000:6 "
		  "agentbox.boottimer=0xd0000000 quiet");
	CHECK_INT(c, boot_build_cmdline(&cl, buf, sizeof(buf), 0, NULL), 0);
	CHECK_STR(c, buf, "console=ttyS0 reboot=t panic=-1 acpi=off "
		  "agentbox.boottimer=0xd0000000");
	CHECK_INT(c, boot_build_cmdline(&cl, buf, sizeof(buf), 0, ""), 0);
	CHECK_INT(c, cl.len, strlen(buf));
	CHECK_INT(c, boot_build_cmdline(&cl, buf, 60, 1, NULL), -E2BIG);
}

static void test_prepare_bzimage(struct check *c)
{
	if (!CHECK_INT(c, prepare("bzImage", "initrd", 64 * MIB, "64M",
				  "quiet"), 0)) {
		check_fail(c, "%s", why);
		return;
	}
	CHECK_INT(c, b.k.format, KERNEL_BZIMAGE);
	CHECK_U64(c, b.k.entry, 0x100200);
	CHECK_U64(c, b.initrd_size, INITRD_LEN);
	/* As high as it goes, page aligned. */
	CHECK_U64(c, b.initrd_gpa, (64 * MIB - INITRD_LEN) & ~0xfffULL);
	CHECK(c, strstr(b.cmdline_buf, " quiet") != NULL);
	boot_release(&b);
}

static void test_prepare_vmlinux(struct check *c)
{
	if (!CHECK_INT(c, prepare("vmlinux", NULL, 64 * MIB, "64M", NULL), 0))
		return;
	CHECK_INT(c, b.k.format, KERNEL_ELF);
	CHECK_U64(c, b.k.entry, ELF_ENTRY);
	CHECK_U64(c, b.initrd_size, 0);
	boot_release(&b);
}

struct bad_input {
	const char *kernel;
	const char *initrd;
	uint64_t mem;
	const char *mem_arg;
	const char *why;
};

static const struct bad_input bad_inputs[] = {
	{ "/nonexistent/vmlinux", NULL, 64 * MIB, "64M",
	  "--kernel /nonexistent/vmlinux: No such file or directory" },
	{ "/tmp", NULL, 64 * MIB, "64M", "--kernel /tmp: not a regular file" },
	{ "text", NULL, 64 * MIB, "64M",
	  "--kernel D/text: not a kernel: no ELF magic and no \"HdrS\" at 0x202" },
	{ "empty", NULL, 64 * MIB, "64M",
	  "--kernel D/empty: not a kernel: no ELF magic and no \"HdrS\" at 0x202" },
	{ "truncated", NULL, 64 * MIB, "64M",
	  "--kernel D/truncated: bzImage truncated: syssize says 0x1000 bytes, file has 0x100" },
	{ "old", NULL, 64 * MIB, "64M",
	  "--kernel D/old: bzImage boot protocol 2.00 is too old (need 2.12 for 64-bit entry)" },
	{ "bzImage", NULL, 8 * MIB, "8M",
	  "--mem 8M: too small for --kernel D/bzImage: bzImage needs guest memory up to 0xa00000, only 0x800000 is usable" },
	{ "bzImage", "missing", 64 * MIB, "64M",
	  "--initrd D/missing: No such file or directory" },
	{ "bzImage", "empty", 64 * MIB, "64M", "--initrd D/empty: empty file" },
	{ "bzImage", "big-initrd", 12 * MIB, "12M",
	  "--mem 12M: too small for --initrd D/big-initrd (4096 KiB) above a kernel that needs memory up to 0xa00000" },
};

static void test_bad_inputs(struct check *c)
{
	const struct bad_input *in;
	unsigned int i;
	char p[128];

	path(p, sizeof(p), "big-initrd");
	for (i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		in = &bad_inputs[i];
		if (in->initrd && !strcmp(in->initrd, "big-initrd")) {
			close(open(p, O_CREAT | O_WRONLY, 0644));
			if (!CHECK_INT(c, truncate(p, 4 * MIB), 0))
				return;
		}
		if (!prepare(in->kernel, in->initrd, in->mem, in->mem_arg,
			     NULL)) {
			check_fail(c, "case %u (%s) prepared", i, in->kernel);
			boot_release(&b);
			return;
		}
		if (!CHECK_STR(c, reason(), in->why))
			return;
	}
}

static void test_cmdline_too_long(struct check *c)
{
	char user[2100];

	memset(user, 'x', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	if (!CHECK_INT(c, prepare("bzImage", NULL, 64 * MIB, "64M", user),
		       -E2BIG))
		return;
	CHECK(c, !strncmp(why, "--cmdline: the kernel command line would be ",
			  44));
	CHECK(c, strstr(why, " bytes; this kernel accepts 2047") != NULL);
	memset(user, 'x', 1800);
	user[1800] = '\0';
	CHECK_INT(c, prepare("bzImage", NULL, 64 * MIB, "64M", user), 0);
	boot_release(&b);
}

static void test_load(struct check *c)
{
	static uint8_t img[BZ_LEN];
	struct guest_mem gm;
	uint8_t *mem;
	uint64_t rd;

	if (!CHECK_INT(c, prepare("bzImage", "initrd", 16 * MIB, "16M",
				  NULL), 0))
		return;
	if (posix_memalign((void **)&mem, 4096, 16 * MIB)) {
		check_fail(c, "out of memory");
		boot_release(&b);
		return;
	}
	memset(mem, 0, 16 * MIB);
	guest_mem_init(&gm, mem, 16 * MIB, 0xc0000000, 0x100000000);
	if (!CHECK_INT(c, boot_load(&b, &gm, 2, why, sizeof(why)), 0))
		goto out;
	make_bzimage(img);
	CHECK_MEM(c, mem + 0x100000, img + BZ_PM_OFFSET, BZ_PM_SIZE);
	CHECK_U64(c, b.img_len, 0);		/* the file is unmapped */
	CHECK_U64(c, mem[0x7000 + 0x210], 0xff);	/* type_of_loader */
	CHECK_U64(c, get32(mem + 0x7000 + 0x228), 0x20000);
	rd = get32(mem + 0x7000 + 0x218);
	CHECK_U64(c, rd, b.initrd_gpa);
	CHECK_U64(c, get32(mem + 0x7000 + 0x21c), INITRD_LEN);
	CHECK_U64(c, mem[rd + 1], 13);
	CHECK_U64(c, mem[rd + INITRD_LEN - 1], (uint8_t)((INITRD_LEN - 1) * 13));
	CHECK_STR(c, (char *)mem + 0x20000, b.cmdline_buf);
	CHECK_MEM(c, mem + 0xf0000, "_MP_", 4);
	CHECK_U64(c, get64(mem + 0x9000), 0xa003);
out:
	free(mem);
	boot_release(&b);
}

int main(void)
{
	if (!make_files()) {
		printf("FAIL: %s: setup: cannot write test files in /tmp\n",
		       SUITE);
		return 1;
	}
	RUN(SUITE, test_cmdline);
	RUN(SUITE, test_prepare_bzimage);
	RUN(SUITE, test_prepare_vmlinux);
	RUN(SUITE, test_bad_inputs);
	RUN(SUITE, test_cmdline_too_long);
	RUN(SUITE, test_load);
	remove_files();
	return check_exit();
}
