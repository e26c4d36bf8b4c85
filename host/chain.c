#include <errno.h>
#include <string.h>

#include "chain.h"

static unsigned int first_seg(const struct virtq_chain *c, bool writable)
{
	return writable ? c->nr_readable : 0;
}

static unsigned int end_seg(const struct virtq_chain *c, bool writable)
{
	return writable ? c->nr_segs : c->nr_readable;
}

static uint32_t part_len(const struct virtq_chain *c, bool writable)
{
	return writable ? c->writable_len : c->readable_len;
}

int chain_iov(const struct virtq_chain *c, bool writable, uint32_t offset,
	      uint32_t len, struct iovec *iov, unsigned int max)
{
	unsigned int i, n = 0;
	uint32_t skip = offset, take;

	if (offset > part_len(c, writable) ||
	    len > part_len(c, writable) - offset)
		return -EINVAL;
	for (i = first_seg(c, writable); i < end_seg(c, writable) && len; i++) {
		if (skip >= c->seg[i].len) {
			skip -= c->seg[i].len;
			continue;
		}
		if (n == max)
			return -EINVAL;
		take = c->seg[i].len - skip;
		if (take > len)
			take = len;
		iov[n].iov_base = c->seg[i].ptr + skip;
		iov[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	return n;
}

int chain_read(const struct virtq_chain *c, uint32_t offset, void *dst,
	       uint32_t len)
{
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint8_t *p = dst;
	int i, n;

	n = chain_iov(c, false, offset, len, iov, VIRTQ_MAX_SIZE);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}

int chain_write(const struct virtq_chain *c, uint32_t offset,
		const void *src, uint32_t len)
{
	struct iovec iov[VIRTQ_MAX_SIZE];
	const uint8_t *p = src;
	int i, n;

	n = chain_iov(c, true, offset, len, iov, VIRTQ_MAX_SIZE);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}
