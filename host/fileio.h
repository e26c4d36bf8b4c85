/* Whole transfers between a file and memory, for disks and boot files. */
#ifndef AGENTBOX_FILEIO_H
#define AGENTBOX_FILEIO_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Read (or write) every byte the iovecs describe at offset off, across
 * short transfers and EINTR. Consumes iov. Returns 0 or -errno; -EIO when
 * the file ends first (it shrank under us).
 */
int fileio_transfer(int fd, struct iovec *iov, int cnt, off_t off, bool write);

/*
 * Replace path with len bytes of buf so that a reader, or a crash at any
 * point, sees the old file or the whole new one: a temporary file beside
 * it, fsync, rename, then fsync of the directory. Returns 0 or -errno and
 * leaves no temporary file behind.
 */
int fileio_write_atomic(const char *path, const void *buf, size_t len);

#endif /* AGENTBOX_FILEIO_H */
