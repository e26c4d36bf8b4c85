/*
 * Walk a fuzzer-controlled virtqueue in fuzzer-controlled guest memory
 * until it is empty or broken, checking every promise the walker makes
 * and touching every byte it hands out, so ASan sees any bad pointer.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "virtq.h"

static struct virtq_chain chain;

static void check_seg(const struct guest_mem *gm, const struct virtq_seg *s)
{
	if (!s->len || s->ptr < gm->base || s->ptr >= gm->base + gm->size ||
	    s->len > gm->base + gm->size - s->ptr)
		__builtin_trap();
}

static void check_chain(const struct virtq *vq, const struct virtq_chain *c)
{
	uint64_t readable = 0, writable = 0;
	unsigned int i;

	if (c->nr_segs > vq->size || c->nr_readable > c->nr_segs ||
	    c->head >= vq->size)
		__builtin_trap();
	for (i = 0; i < c->nr_segs; i++) {
		check_seg(vq->gm, &c->seg[i]);
		if (c->seg[i].writable != (i >= c->nr_readable))
			__builtin_trap();
		if (c->seg[i].writable)
			writable += c->seg[i].len;
		else
			readable += c->seg[i].len;
	}
	if (readable != c->readable_len || writable != c->writable_len ||
	    readable + writable > UINT32_MAX)
		__builtin_trap();
}

static void touch(const struct virtq_chain *c)
{
	/* volatile: the reads exist only so ASan checks each byte. */
	volatile uint8_t sink = 0;
	unsigned int i;
	uint32_t j;

	for (i = 0; i < c->nr_segs; i++) {
		if (c->seg[i].writable) {
			memset(c->seg[i].ptr, 0xa5, c->seg[i].len);
			continue;
		}
		for (j = 0; j < c->seg[i].len; j++)
			sink += c->seg[i].ptr[j];
	}
	(void)sink;
}

static void drain(struct virtq *vq)
{
	unsigned int i;

	/* Each pop consumes an entry, so this bounds even a busy queue. */
	for (i = 0; i < 2u * vq->size + 2; i++) {
		if (virtq_pop(vq, &chain) <= 0)
			return;
		check_chain(vq, &chain);
		touch(&chain);
		if (virtq_push(vq, chain.head, chain.writable_len))
			__builtin_trap();
		virtq_should_notify(vq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_virtq_hdr h;
	struct guest_mem gm;
	struct virtq vq;
	uint64_t hole;
	void *mem;

	if (size <= sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	size -= sizeof(h);
	/* An exact-size copy, so ASan flags the first byte past guest RAM. */
	if (posix_memalign(&mem, 16, size))
		return 0;
	memcpy(mem, data + sizeof(h), size);
	hole = (uint64_t)h.hole_page * 4096;
	if (guest_mem_init(&gm, mem, size, hole,
			   hole + (uint64_t)h.hole_pages * 4096))
		goto free_mem;
	if (virtq_init(&vq, &gm, 1u << (h.size_shift % 9), h.desc, h.avail,
		       h.used))
		goto free_mem;
	vq.indirect = h.flags & FUZZ_VQ_INDIRECT;
	vq.no_empty = h.flags & FUZZ_VQ_NO_EMPTY;
	vq.last_avail_idx = h.last_avail_idx;
	/* Up to a ring's worth of chains still in flight, as after restore. */
	vq.used_idx = h.last_avail_idx - h.used_idx % vq.size;
	drain(&vq);
free_mem:
	free(mem);
	return 0;
}
