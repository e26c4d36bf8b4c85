#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "fileio.h"
#include "snapshot_mem.h"

#define PAGE		4096ULL
/* mincore() and the zero scan work on this much RAM at a time. */
#define SCAN_CHUNK	(64ULL << 20)
/* Longest single write, so one run of data never needs a huge iovec. */
#define MAX_RUN		(8ULL << 20)

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	unsigned int i;

	for (i = 0; i < PAGE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

static int write_run(int fd, const uint8_t *ram, uint64_t start, uint64_t end)
{
	struct iovec iov = {
		.iov_base = (void *)(ram + start),
		.iov_len = end - start,
	};

	return fileio_transfer(fd, &iov, 1, start, true);
}

/*
 * Pages of one chunk worth writing. For anonymous RAM, a page mincore()
 * calls absent was never touched and reads as zero anyway; a file-backed
 * (restored) RAM's absent page is still in the old memory file, so every
 * page of it is read.
 */
static int scan_chunk(const struct vm *vm, int fd, uint64_t off, uint64_t len,
		      unsigned char *resident, uint64_t *stored)
{
	uint64_t run = 0, p, npages = len / PAGE;
	bool in_run = false;
	int err;

	if (!vm->ram_from_file &&
	    mincore((uint8_t *)vm->ram + off, len, resident) < 0)
		return -errno;
	for (p = 0; p <= npages; p++) {
		bool data = p < npages &&
			    (vm->ram_from_file || (resident[p] & 1)) &&
			    !page_is_zero((uint8_t *)vm->ram + off + p * PAGE);

		if (data && in_run && (p * PAGE - run) < MAX_RUN)
			continue;
		if (in_run) {
			err = write_run(fd, vm->ram, off + run, off + p * PAGE);
			if (err)
				return err;
			*stored += p * PAGE - run;
		}
		in_run = data;
		run = p * PAGE;
	}
	return 0;
}

int snap_mem_write(const struct vm *vm, int fd, uint64_t *stored, char *why,
		   size_t why_size)
{
	unsigned char *resident;
	uint64_t off, len;
	int err = 0;

	*stored = 0;
	if (vm->ram_size % PAGE) {
		snprintf(why, why_size, "memory file: RAM of %llu bytes is not whole pages",
			 (unsigned long long)vm->ram_size);
		return -EINVAL;
	}
	if (ftruncate(fd, vm->ram_size) < 0) {
		err = -errno;
		snprintf(why, why_size, "memory file: %s", strerror(-err));
		return err;
	}
	resident = malloc(SCAN_CHUNK / PAGE);
	if (!resident)
		return -ENOMEM;
	for (off = 0; off < vm->ram_size && !err; off += len) {
		len = vm->ram_size - off < SCAN_CHUNK ? vm->ram_size - off :
		      SCAN_CHUNK;
		err = scan_chunk(vm, fd, off, len, resident, stored);
	}
	free(resident);
	if (err)
		snprintf(why, why_size, "memory file: %s", strerror(-err));
	return err;
}

int snap_mem_open(const char *path, uint64_t size, int *fd, char *why,
		  size_t why_size)
{
	struct stat st;
	int err;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		err = -errno;
		snprintf(why, why_size, "%s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != size) {
		snprintf(why, why_size,
			 "%s: %llu bytes, but the state file records %llu (truncated or replaced)",
			 path, (unsigned long long)st.st_size,
			 (unsigned long long)size);
		close(*fd);
		*fd = -1;
		return -EINVAL;
	}
	return 0;
}
