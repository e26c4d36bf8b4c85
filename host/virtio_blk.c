#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/fs.h>
#include <linux/virtio_ids.h>

#include "chain.h"
#include "fileio.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "virtio_blk.h"

#define HDR_LEN		sizeof(struct virtio_blk_outhdr)
#define STATUS_LEN	1
#define QUEUE_MAX	VIRTQ_MAX_SIZE
#define SNAP_LEN	(8 + 1)

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio-blk header");

int virtio_blk_disk_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISREG(st->st_mode)) {
		*size = st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	return -EINVAL;
}

static int open_fail(int fd, int err, char *why, size_t n, const char *path,
		     const char *reason)
{
	snprintf(why, n, "%s: %s", path, reason ? reason : strerror(-err));
	if (fd >= 0)
		close(fd);
	return err;
}

static void fill_config(struct virtio_blk *b)
{
	memset(&b->config, 0, sizeof(b->config));
	b->config.capacity = b->capacity;
	b->config.seg_max = VIRTIO_BLK_SEG_MAX;
}

int virtio_blk_open(struct virtio_blk *b, const char *path, bool ro,
		    unsigned int index, char *why, size_t why_size)
{
	struct stat st;
	uint64_t size;
	int fd, err;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return open_fail(-1, -errno, why, why_size, path, NULL);
	if (fstat(fd, &st) < 0)
		return open_fail(fd, -errno, why, why_size, path, NULL);
	err = virtio_blk_disk_size(fd, &st, &size);
	if (err == -EINVAL)
		return open_fail(fd, err, why, why_size, path,
				 "not a regular file or block device");
	if (err)
		return open_fail(fd, err, why, why_size, path, NULL);
	if (size < VIRTIO_BLK_SECTOR)
		return open_fail(fd, -EINVAL, why, why_size, path,
				 "smaller than one 512-byte sector");
	if (flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return open_fail(fd, -errno, why, why_size, path,
				 errno == EWOULDBLOCK ?
				 "in use (locked by another VM, or given twice)" :
				 NULL);
	b->fd = fd;
	b->ro = ro;
	b->path = path;
	b->capacity = size / VIRTIO_BLK_SECTOR;
	snprintf(b->id, sizeof(b->id), "agentbox-disk%u", index);
	fill_config(b);
	return 0;
}

void virtio_blk_close(struct virtio_blk *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

uint64_t virtio_blk_features(const struct virtio_blk *b)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_FLUSH);

	if (b->ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	return f;
}

static void blk_config_read(void *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	struct virtio_blk *b = dev;

	if (offset >= sizeof(b->config))
		return;
	if (len > sizeof(b->config) - offset)
		len = sizeof(b->config) - offset;
	memcpy(data, (const uint8_t *)&b->config + offset, len);
}

/* Whether [sector, sector + len bytes) lies inside the disk. */
static bool in_bounds(const struct virtio_blk *b, uint64_t sector,
		      uint32_t len)
{
	uint64_t nsec = len / VIRTIO_BLK_SECTOR;

	return len % VIRTIO_BLK_SECTOR == 0 && sector <= b->capacity &&
	       nsec <= b->capacity - sector;
}

static uint8_t do_io(struct virtio_blk *b, const struct virtq_chain *c,
		     uint64_t sector, bool write, uint32_t *data_len)
{
	uint32_t len = write ? c->readable_len - HDR_LEN :
			       c->writable_len - STATUS_LEN;
	uint32_t offset = write ? HDR_LEN : 0;
	int n;

	if (write && b->ro)
		return VIRTIO_BLK_S_IOERR;
	if (!in_bounds(b, sector, len))
		return VIRTIO_BLK_S_IOERR;
	/* A write's data is what the device reads, and the other way round. */
	n = chain_iov(c, !write, offset, len, b->iov, VIRTQ_MAX_SIZE);
	if (n < 0)
		return VIRTIO_BLK_S_IOERR;
	if (fileio_transfer(b->fd, b->iov, n, sector * VIRTIO_BLK_SECTOR, write))
		return VIRTIO_BLK_S_IOERR;
	if (!write)
		*data_len = len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_flush(struct virtio_blk *b)
{
	if (b->ro)
		return VIRTIO_BLK_S_OK;
	return fdatasync(b->fd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* The id is NUL-padded to 20 bytes; a shorter buffer gets a prefix. */
static uint8_t do_get_id(struct virtio_blk *b, const struct virtq_chain *c,
			 uint32_t *data_len)
{
	uint32_t len = c->writable_len - STATUS_LEN;

	if (len > VIRTIO_BLK_ID_BYTES)
		len = VIRTIO_BLK_ID_BYTES;
	if (chain_write(c, 0, b->id, len))
		return VIRTIO_BLK_S_IOERR;
	*data_len = len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_request(struct virtio_blk *b, const struct virtq_chain *c,
			  const struct virtio_blk_outhdr *hdr,
			  uint32_t *data_len)
{
	switch (hdr->type) {
	case VIRTIO_BLK_T_IN:
		return do_io(b, c, hdr->sector, false, data_len);
	case VIRTIO_BLK_T_OUT:
		return do_io(b, c, hdr->sector, true, data_len);
	case VIRTIO_BLK_T_FLUSH:
		return do_flush(b);
	case VIRTIO_BLK_T_GET_ID:
		return do_get_id(b, c, data_len);
	}
	return VIRTIO_BLK_S_UNSUPP;
}

/*
 * A chain without a whole header or a status byte cannot even be
 * answered, so it fails the device; every other problem is an I/O error
 * in the status byte, the last writable byte of the chain.
 */
static int blk_handle(void *dev, unsigned int queue,
		      const struct virtq_chain *c, uint32_t *written)
{
	struct virtio_blk_outhdr hdr;
	uint32_t data_len = 0;
	uint8_t status;

	(void)queue;
	if (c->writable_len < STATUS_LEN || chain_read(c, 0, &hdr, HDR_LEN))
		return -EINVAL;
	status = do_request(dev, c, &hdr, &data_len);
	if (status != VIRTIO_BLK_S_OK)
		data_len = 0;
	if (chain_write(c, c->writable_len - STATUS_LEN, &status, STATUS_LEN))
		return -EINVAL;
	*written = data_len + STATUS_LEN;
	return 0;
}

const struct virtio_dev_ops virtio_blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_max = QUEUE_MAX,
	.config_read = blk_config_read,
	.handle = blk_handle,
};

int virtio_blk_save(struct virtio_blk *b, unsigned int index,
		    struct snap_builder *sb, char *why, size_t n)
{
	uint8_t buf[SNAP_LEN];
	struct snap_writer w;
	int err;

	snap_writer_init(&w, buf, sizeof(buf));
	snap_put_u64(&w, b->capacity);
	snap_put_u8(&w, b->ro);
	err = snap_add_writer(sb, SNAP_SEC_VIRTIO_BLK, index, &w);
	if (err)
		snprintf(why, n, "disk %u: %s", index, strerror(-err));
	return err;
}

int virtio_blk_restore(struct virtio_blk *b, unsigned int index,
		       const struct snap_index *idx, char *why, size_t n)
{
	struct snap_reader r;
	uint64_t capacity;
	uint8_t ro;

	if (!snap_reader_find(&r, idx, SNAP_SEC_VIRTIO_BLK, index))
		return snap_refuse(why, n, "state: disk %u: missing", index);
	capacity = snap_get_u64(&r);
	ro = snap_get_u8(&r);
	if (!snap_reader_done(&r))
		return snap_refuse(why, n,
				   "state: disk %u: %zu bytes, not what the fields take",
				   index, r.len);
	if (capacity != b->capacity || ro != b->ro)
		return snap_refuse(why, n,
				   "state: disk %u: the guest saw %llu sectors%s, %s has %llu%s",
				   index, (unsigned long long)capacity,
				   ro ? " read-only" : "", b->path,
				   (unsigned long long)b->capacity,
				   b->ro ? " read-only" : "");
	return 0;
}
