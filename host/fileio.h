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

#endif /* AGENTBOX_FILEIO_H */
