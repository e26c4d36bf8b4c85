/*
 * Byte-level access to a chain the walker (virtq.c) validated. The spec
 * lets a driver split a request across descriptors any way it likes, so
 * devices address the readable and the writable parts as flat byte
 * ranges and never assume one header per descriptor.
 */
#ifndef AGENTBOX_CHAIN_H
#define AGENTBOX_CHAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtq.h"

/* Copy len readable bytes from offset; -EINVAL if the chain is shorter. */
int chain_read(const struct virtq_chain *c, uint32_t offset, void *dst,
	       uint32_t len);

/* Copy len bytes into the writable part at offset; -EINVAL if short. */
int chain_write(const struct virtq_chain *c, uint32_t offset,
		const void *src, uint32_t len);

/*
 * Describe [offset, offset + len) of the readable or writable part as at
 * most max iovecs. Returns how many, or -EINVAL if out of range.
 */
int chain_iov(const struct virtq_chain *c, bool writable, uint32_t offset,
	      uint32_t len, struct iovec *iov, unsigned int max);

#endif /* AGENTBOX_CHAIN_H */
