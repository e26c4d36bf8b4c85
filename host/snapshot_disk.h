/*
 * Disks in snapshots. A guest's page cache remembers its disks' contents,
 * so a restore must get the very disks the snapshot saw: read-only disks
 * are identified (size, modification time, and a checksum of sample
 * blocks spread over the disk: cheap enough for every restore, and any
 * rebuilt image fails it), writable ones are copied into the snapshot and
 * cloned again for every restore.
 */
#ifndef AGENTBOX_SNAPSHOT_DISK_H
#define AGENTBOX_SNAPSHOT_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_SAMPLES		16
#define DISK_SAMPLE_SIZE	4096

struct disk_identity {
	uint64_t size;
	/* 0 for a block device, whose mtime says nothing about its data. */
	uint64_t mtime_ns;
	uint32_t sample_crc;
};

int disk_identity_read(int fd, struct disk_identity *id);
bool disk_identity_equal(const struct disk_identity *a,
			 const struct disk_identity *b);

/*
 * Make dst (an empty regular file) a copy of src: a reflink where the
 * filesystem shares blocks, else a copy of src's data extents only.
 */
int disk_clone(int src, int dst);

#endif /* AGENTBOX_SNAPSHOT_DISK_H */
