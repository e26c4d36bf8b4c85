/*
 * The one split-virtqueue walker every device uses. The guest owns the
 * rings and can make them say anything, so each field is checked before it
 * steers a memory access, and any violation fails the queue as a whole
 * (DESIGN.md section 6) rather than being patched over.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "virtq.h"

/* Split-ring alignment the virtio spec requires of the driver. */
#define DESC_ALIGN	16
#define AVAIL_ALIGN	2
#define USED_ALIGN	4

_Static_assert(sizeof(struct vring_desc) == 16, "descriptor size");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element size");
_Static_assert(VIRTQ_MAX_SIZE <= 32768, "virtio caps queues at 32768");

static bool is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

static void *ring_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		      uint64_t align)
{
	if (gpa % align)
		return NULL;
	return gm_ptr(gm, gpa, len);
}

int virtq_init(struct virtq *vq, const struct guest_mem *gm, uint16_t size,
	       uint64_t desc, uint64_t avail, uint64_t used)
{
	/* Both include the event-index word, which drivers always allocate. */
	uint64_t avail_len = 6 + 2 * (uint64_t)size;
	uint64_t used_len = 6 + 8 * (uint64_t)size;
	void *d, *a, *u;

	memset(vq, 0, sizeof(*vq));
	if (!is_pow2(size) || size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	d = ring_ptr(gm, desc, 16 * (uint64_t)size, DESC_ALIGN);
	a = ring_ptr(gm, avail, avail_len, AVAIL_ALIGN);
	u = ring_ptr(gm, used, used_len, USED_ALIGN);
	/* A rejected queue stays all-zero, never half set up. */
	if (!d || !a || !u)
		return -EINVAL;
	vq->size = size;
	vq->gm = gm;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	return 0;
}

/*
 * A single copy of the descriptor: the guest may rewrite the table while
 * we walk it, and every check below must hold for the values we use.
 */
static void read_desc(const uint8_t *table, uint16_t i, struct vring_desc *d)
{
	/* Bytes, not a typed pointer: an indirect table need not be aligned. */
	memcpy(d, table + (size_t)i * sizeof(*d), sizeof(*d));
}

static int add_seg(struct virtq *vq, struct virtq_chain *c,
		   const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	struct virtq_seg *s;
	uint64_t total;
	uint8_t *ptr;

	if (!d->len)
		return vq->no_empty ? -EINVAL : 0;
	/* The spec puts all device-readable buffers before writable ones. */
	if (!writable && c->nr_segs > c->nr_readable)
		return -EINVAL;
	total = (uint64_t)c->readable_len + c->writable_len + d->len;
	if (total > UINT32_MAX)
		return -EINVAL;
	if (c->nr_segs >= vq->size)
		return -EINVAL;
	ptr = gm_ptr(vq->gm, d->addr, d->len);
	if (!ptr)
		return -EINVAL;
	s = &c->seg[c->nr_segs++];
	s->ptr = ptr;
	s->len = d->len;
	s->writable = writable;
	if (writable) {
		c->writable_len += d->len;
	} else {
		c->nr_readable++;
		c->readable_len += d->len;
	}
	return 0;
}

/*
 * Check an indirect descriptor and return the table it points to. The
 * spec forbids NEXT on it and tables inside tables, and the table can hold
 * at most a queue's worth of descriptors, like any chain.
 */
static int indirect_table(const struct virtq *vq, const struct vring_desc *d,
			  const uint8_t **table, uint32_t *n)
{
	if (!vq->indirect || (d->flags & VRING_DESC_F_NEXT))
		return -EINVAL;
	if (!d->len || d->len % sizeof(struct vring_desc))
		return -EINVAL;
	*n = d->len / sizeof(struct vring_desc);
	if (*n > vq->size)
		return -EINVAL;
	*table = gm_ptr(vq->gm, d->addr, d->len);
	return *table ? 0 : -EINVAL;
}

/*
 * Follow the chain from head. In a table of n entries, visiting more than
 * n descriptors can only mean a loop. An indirect descriptor ends the
 * chain it is in, so the walk simply continues at entry 0 of its table.
 */
static int walk(struct virtq *vq, struct virtq_chain *c, uint16_t head)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t n = vq->size, visited = 0;
	bool nested = false;
	struct vring_desc d;
	uint16_t i = head;
	int err;

	for (;;) {
		if (visited++ == n)
			return -EINVAL;
		read_desc(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (nested)
				return -EINVAL;
			err = indirect_table(vq, &d, &table, &n);
			if (err)
				return err;
			nested = true;
			visited = 0;
			i = 0;
			continue;
		}
		err = add_seg(vq, c, &d);
		if (err || !(d.flags & VRING_DESC_F_NEXT))
			return err;
		if (d.next >= n)
			return -EINVAL;
		i = d.next;
	}
}

static void chain_reset(struct virtq_chain *c, uint16_t head)
{
	c->head = head;
	c->nr_segs = 0;
	c->nr_readable = 0;
	c->readable_len = 0;
	c->writable_len = 0;
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	uint16_t avail_idx, pending, head;
	int err;

	/*
	 * Acquire pairs with the driver's write barrier before it bumps idx:
	 * the ring entries and descriptors it published must be visible
	 * before we read them.
	 */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	pending = avail_idx - vq->last_avail_idx;
	if (!pending)
		return 0;
	if (pending > vq->size)
		return -EINVAL;
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail_idx &
						 (vq->size - 1)],
			       __ATOMIC_RELAXED);
	if (head >= vq->size)
		return -EINVAL;
	chain_reset(chain, head);
	err = walk(vq, chain, head);
	if (err)
		return err;
	vq->last_avail_idx++;
	return 1;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	struct vring_used_elem *e;

	/* Only as many chains can come back as were taken. */
	if (head >= vq->size || vq->used_idx == vq->last_avail_idx)
		return -EINVAL;
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/*
	 * Release orders the element and the buffer contents the device wrote
	 * before the index: a driver that sees the new idx sees the data.
	 */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

bool virtq_should_notify(const struct virtq *vq)
{
	uint16_t flags;

	/*
	 * Full fence: the used idx store must be globally visible before we
	 * read the driver's flag, or a driver re-enabling interrupts after
	 * checking the ring could miss this update and sleep forever.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = __atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED);
	return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
}

bool virtq_chain_fits(const struct virtq_chain *chain, uint32_t readable,
		      uint32_t writable)
{
	return chain->readable_len >= readable &&
	       chain->writable_len >= writable;
}
