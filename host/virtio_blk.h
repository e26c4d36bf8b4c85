/*
 * virtio-blk over a host file or block device: read, write, flush and
 * get-id, each request bounds-checked against the disk. A read-only disk
 * advertises VIRTIO_BLK_F_RO and still refuses every write itself.
 */
#ifndef AGENTBOX_VIRTIO_BLK_H
#define AGENTBOX_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <linux/virtio_blk.h>

#include "snapshot_file.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define VIRTIO_BLK_SECTOR	512
/* Header, data and status must fit one queue (or indirect table). */
#define VIRTIO_BLK_SEG_MAX	(VIRTQ_MAX_SIZE - 2)

struct virtio_blk {
	int fd;
	bool ro;
	const char *path;
	/* In 512-byte sectors; a partial last sector is not addressable. */
	uint64_t capacity;
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config config;
	/* Scratch for one request's data buffers. */
	struct iovec iov[VIRTQ_MAX_SIZE];
};

extern const struct virtio_dev_ops virtio_blk_ops;

/*
 * Open the disk (before any VM exists, so bad paths fail early). It is
 * locked, shared for read-only and exclusive otherwise, so two VMs never
 * write one image. On error why holds "<path>: <reason>".
 */
/*
 * The size in bytes of a disk: a regular file or a block device
 * (-EINVAL for anything else), whose fstat() is st.
 */
int virtio_blk_disk_size(int fd, const struct stat *st, uint64_t *size);

int virtio_blk_open(struct virtio_blk *b, const char *path, bool ro,
		    unsigned int index, char *why, size_t why_size);
void virtio_blk_close(struct virtio_blk *b);

/* The device feature bits for the transport. */
uint64_t virtio_blk_features(const struct virtio_blk *b);

/*
 * SNAP_SEC_VIRTIO_BLK, instance = disk index: u64 capacity in sectors,
 * u8 read-only. Not state but identity, beyond the transport's: the
 * restore refuses a disk of another size or mode than the guest saw.
 */
int virtio_blk_save(struct virtio_blk *b, unsigned int index,
		    struct snap_builder *sb, char *why, size_t why_size);
int virtio_blk_restore(struct virtio_blk *b, unsigned int index,
		       const struct snap_index *idx, char *why,
		       size_t why_size);

#endif /* AGENTBOX_VIRTIO_BLK_H */
