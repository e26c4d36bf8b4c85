#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/fs.h>
#include <zlib.h>

#include "snapshot_disk.h"
#include "virtio_blk.h"

static int sample_crc(int fd, uint64_t size, uint32_t *out)
{
	uint8_t buf[DISK_SAMPLE_SIZE];
	uLong crc = crc32(0, Z_NULL, 0);
	uint64_t span = size > sizeof(buf) ? size - sizeof(buf) : 0;
	unsigned int i;
	ssize_t n;

	for (i = 0; i < DISK_SAMPLES; i++) {
		n = pread(fd, buf, sizeof(buf), span * i / (DISK_SAMPLES - 1));
		if (n < 0)
			return -errno;
		crc = crc32(crc, buf, n);
	}
	*out = crc;
	return 0;
}

int disk_identity_read(int fd, struct disk_identity *id)
{
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	err = virtio_blk_disk_size(fd, &st, &id->size);
	if (err)
		return err;
	id->mtime_ns = S_ISREG(st.st_mode) ?
		       (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
		       st.st_mtim.tv_nsec : 0;
	return sample_crc(fd, id->size, &id->sample_crc);
}

bool disk_identity_equal(const struct disk_identity *a,
			 const struct disk_identity *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->sample_crc == b->sample_crc;
}

static int copy_range(int src, int dst, off_t from, off_t to)
{
	loff_t in = from, out = from;
	ssize_t n;

	while (in < to) {
		n = copy_file_range(src, &in, dst, &out, to - in, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
	}
	return 0;
}

/* Holes stay holes: only the extents SEEK_DATA finds are copied. */
static int copy_sparse(int src, int dst, uint64_t size)
{
	off_t data, hole = 0;
	int err;

	if (ftruncate(dst, size) < 0)
		return -errno;
	for (;;) {
		data = lseek(src, hole, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		err = copy_range(src, dst, data, hole);
		if (err)
			return err;
	}
}

int disk_clone(int src, int dst)
{
	struct stat st;

	if (fstat(src, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (ioctl(dst, FICLONE, src) == 0)
		return 0;
	return copy_sparse(src, dst, st.st_size);
}
