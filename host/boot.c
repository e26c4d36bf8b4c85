#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "boot.h"
#include "bootparams.h"
#include "fileio.h"
#include "longmode.h"
#include "mptable.h"

#define BOOTTIMER_ARG_MAX	64

int boot_build_cmdline(struct cmdline *cl, char *buf, size_t size,
		       unsigned int nr_virtio, const char *user)
{
	char arg[BOOTTIMER_ARG_MAX];
	unsigned int i;
	int err;

	err = cmdline_init(cl, buf, size);
	if (!err)
		err = cmdline_append(cl, BOOT_BASE_CMDLINE);
	for (i = 0; !err && i < nr_virtio; i++)
		err = cmdline_add_virtio_mmio(cl, LAYOUT_VIRTIO_MMIO_SIZE,
					      layout_virtio_mmio_addr(i),
					      layout_virtio_irq(i));
	snprintf(arg, sizeof(arg), "agentbox.boottimer=0x%llx",
		 (unsigned long long)LAYOUT_BOOT_TIMER_ADDR);
	if (!err)
		err = cmdline_append(cl, arg);
	if (!err && user && *user)
		err = cmdline_append(cl, user);
	return err;
}

/* Open a regular file for reading: its fd, or -errno with why set. */
static int open_input(const char *opt, const char *path, uint64_t *size,
		      char *why, size_t n)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, n, "%s %s: %s", opt, path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, n, "%s %s: not a regular file", opt, path);
		close(fd);
		return -EINVAL;
	}
	*size = st.st_size;
	return fd;
}

/* An empty file cannot be mapped; the parser still says what is wrong. */
static int map_kernel(struct boot *b, const char *path, char *why, size_t n)
{
	static uint8_t empty[1];
	uint64_t size;
	void *p;
	int fd;

	fd = open_input("--kernel", path, &size, why, n);
	if (fd < 0)
		return fd;
	b->img = empty;
	b->img_len = 0;
	if (size) {
		p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			snprintf(why, n, "--kernel %s: %s", path,
				 strerror(errno));
			close(fd);
			return -EIO;
		}
		b->img = p;
		b->img_len = size;
	}
	close(fd);
	return 0;
}

static int parse_kernel(struct boot *b, const struct boot_config *cfg,
			char *why, size_t n)
{
	char reason[KERNEL_WHY_MAX];
	int err;

	err = map_kernel(b, cfg->kernel, why, n);
	if (err)
		return err;
	err = kernel_parse(b->img, b->img_len, cfg->mem, &b->k, reason,
			   sizeof(reason));
	if (err == -ENOMEM)
		snprintf(why, n, "--mem %s: too small for --kernel %s: %s",
			 cfg->mem_arg, cfg->kernel, reason);
	else if (err)
		snprintf(why, n, "--kernel %s: %s", cfg->kernel, reason);
	return err;
}

static int place_initrd(struct boot *b, const struct boot_config *cfg,
			char *why, size_t n)
{
	int fd, err;

	fd = open_input("--initrd", cfg->initrd, &b->initrd_size, why, n);
	if (fd < 0)
		return fd;
	b->initrd_fd = fd;
	if (!b->initrd_size) {
		snprintf(why, n, "--initrd %s: empty file", cfg->initrd);
		return -EINVAL;
	}
	err = bootparams_place_initrd(&b->k, cfg->mem, b->initrd_size,
				      &b->initrd_gpa);
	if (err == -E2BIG)
		snprintf(why, n, "--initrd %s: %" PRIu64 " bytes is more than the 4 GiB the boot protocol allows",
			 cfg->initrd, b->initrd_size);
	else if (err)
		snprintf(why, n, "--mem %s: too small for --initrd %s (%" PRIu64 " KiB) above a kernel that needs memory up to 0x%" PRIx64,
			 cfg->mem_arg, cfg->initrd, b->initrd_size >> 10,
			 b->k.end);
	return err;
}

static int build_cmdline(struct boot *b, const struct boot_config *cfg,
			 char *why, size_t n)
{
	size_t max = bootparams_cmdline_max(&b->k);
	int err;

	err = boot_build_cmdline(&b->cl, b->cmdline_buf,
				 sizeof(b->cmdline_buf), cfg->nr_virtio,
				 cfg->cmdline);
	if (err == -E2BIG) {
		snprintf(why, n, "--cmdline: the kernel command line would be over %zu bytes; this kernel accepts %zu",
			 sizeof(b->cmdline_buf) - 1, max);
		return err;
	}
	if (!err && b->cl.len > max) {
		snprintf(why, n, "--cmdline: the kernel command line would be %zu bytes; this kernel accepts %zu",
			 b->cl.len, max);
		return -E2BIG;
	}
	if (err)
		snprintf(why, n, "--cmdline: %s", strerror(-err));
	return err;
}

int boot_prepare(struct boot *b, const struct boot_config *cfg, char *why,
		 size_t why_size)
{
	int err;

	memset(b, 0, sizeof(*b));
	b->initrd_fd = -1;
	err = parse_kernel(b, cfg, why, why_size);
	if (!err && cfg->initrd)
		err = place_initrd(b, cfg, why, why_size);
	if (!err)
		err = build_cmdline(b, cfg, why, why_size);
	if (err)
		boot_release(b);
	return err;
}

static int read_initrd(struct boot *b, struct guest_mem *gm)
{
	uint8_t *dst = gm_ptr(gm, b->initrd_gpa, b->initrd_size);
	struct iovec iov = { .iov_base = dst, .iov_len = b->initrd_size };

	if (!dst)
		return -EFAULT;
	return fileio_transfer(b->initrd_fd, &iov, 1, 0, false);
}

static void unmap_kernel(struct boot *b)
{
	if (b->img_len)
		munmap(b->img, b->img_len);
	b->img = NULL;
	b->img_len = 0;
}

/* Kernel first: its bytes are then no longer needed in our memory. */
int boot_load(struct boot *b, struct guest_mem *gm, unsigned int nr_cpus,
	      char *why, size_t why_size)
{
	const char *what = "kernel";
	int err;

	err = kernel_load(&b->k, b->img, b->img_len, gm);
	unmap_kernel(b);
	if (!err && b->initrd_size) {
		what = "initrd";
		err = read_initrd(b, gm);
	}
	if (!err) {
		what = "zero page";
		err = bootparams_write(gm, &b->k, b->cmdline_buf,
				       b->initrd_gpa, b->initrd_size);
	}
	if (!err) {
		what = "MP table";
		err = mptable_write(gm, nr_cpus);
	}
	if (!err) {
		what = "page tables";
		err = longmode_write_tables(gm);
	}
	if (err)
		snprintf(why, why_size, "loading the %s: %s", what,
			 strerror(-err));
	return err;
}

void boot_release(struct boot *b)
{
	unmap_kernel(b);
	if (b->initrd_fd >= 0)
		close(b->initrd_fd);
	b->initrd_fd = -1;
}
