#ifndef AGENTBOX_VIRTQ_H
#define AGENTBOX_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "guest_mem.h"

/*
 * Largest queue any agentbox device offers (QueueNumMax). A chain never
 * has more buffers than the queue has entries, so this also bounds
 * struct virtq_chain.
 */
#define VIRTQ_MAX_SIZE	256

/*
 * One split virtqueue as the device sees it. Every pointer below points
 * into guest memory the guest can rewrite at any moment: the walker reads
 * each descriptor once into a local copy and only trusts that copy.
 */
struct virtq {
	uint16_t size;
	/* Accept VIRTQ_DESC_F_INDIRECT (VIRTIO_F_INDIRECT_DESC negotiated). */
	bool indirect;
	/* Treat a zero-length buffer as a broken queue instead of skipping. */
	bool no_empty;
	/*
	 * Next avail entry to consume and next used entry to fill: device
	 * state, saved in snapshots.
	 */
	uint16_t last_avail_idx;
	uint16_t used_idx;
	const struct guest_mem *gm;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

struct virtq_seg {
	uint8_t *ptr;
	uint32_t len;
	bool writable;
};

/*
 * A validated chain: all readable segments come first, then all writable
 * ones; every segment lies in guest RAM; the totals fit in 32 bits.
 */
struct virtq_chain {
	uint16_t head;
	unsigned int nr_segs;
	unsigned int nr_readable;
	uint32_t readable_len;
	uint32_t writable_len;
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/*
 * Set up a queue once the driver wrote QueueReady: checks the size is a
 * power of two up to VIRTQ_MAX_SIZE and that each ring is aligned and
 * entirely in RAM. Indices and the indirect/no_empty flags start at zero;
 * set them after this call (indices from a snapshot when restoring).
 * -EINVAL if the driver's setup is bad.
 */
int virtq_init(struct virtq *vq, const struct guest_mem *gm, uint16_t size,
	       uint64_t desc, uint64_t avail, uint64_t used);

/*
 * Take the next available chain. Returns 1 with *chain filled, 0 if the
 * driver has made nothing available, or -EINVAL if the queue is broken;
 * the caller must then put the device into its failed state and stop
 * using the queue.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/*
 * Return chain head to the driver with written bytes placed in its
 * writable buffers. -EINVAL if head is not a chain the device holds.
 */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/* Whether the driver wants an interrupt for what was just pushed. */
bool virtq_should_notify(const struct virtq *vq);

/* Whether a chain offers at least these many readable/writable bytes. */
bool virtq_chain_fits(const struct virtq_chain *chain, uint32_t readable,
		      uint32_t writable);

#endif /* AGENTBOX_VIRTQ_H */
