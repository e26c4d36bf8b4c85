/*
 * The virtio-mmio transport, modern (version 2) only: the register file
 * of one device window, the feature and status handshake, and the
 * queues. The device behind it (virtio_blk.c, virtio_rng.c) only sees
 * validated chains. A queue the driver breaks fails the device
 * (DEVICE_NEEDS_RESET) and never the VMM.
 */
#ifndef AGENTBOX_VIRTIO_MMIO_H
#define AGENTBOX_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "guest_mem.h"
#include "irq.h"
#include "virtq.h"

#define VIRTIO_MMIO_MAX_QUEUES	2
#define VIRTIO_MMIO_MAGIC	0x74726976	/* "virt" */
#define VIRTIO_MMIO_MODERN	2
/* "AGBX" read as a little-endian word. */
#define VIRTIO_MMIO_VENDOR	0x58424741

struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	unsigned int nr_queues;
	/* QueueNumMax: a power of two, at most VIRTQ_MAX_SIZE. */
	uint16_t queue_max;
	/* Device config space; bytes past its end read as zero. */
	void (*config_read)(void *dev, uint32_t offset, uint8_t *data,
			    unsigned int len);
	/*
	 * Serve one chain: 0 with *written (bytes put in the writable
	 * buffers), or -EINVAL if the chain is too malformed to answer
	 * at all, which fails the device.
	 */
	int (*handle)(void *dev, unsigned int queue,
		      const struct virtq_chain *chain, uint32_t *written);
};

struct virtio_queue {
	uint32_t num;
	bool ready;
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	struct virtq vq;
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *dev;
	const struct guest_mem *gm;
	struct irq_line irq;
	bool irq_level;
	/* Guest-physical base, for messages. */
	uint64_t addr;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t isr;
	bool failed;
	struct virtio_queue q[VIRTIO_MMIO_MAX_QUEUES];
	/* Scratch for the chain being served, too big for a vCPU stack. */
	struct virtq_chain chain;
};

extern const struct bus_ops virtio_mmio_bus_ops;

/*
 * features: the device-specific bits; the transport adds VERSION_1 and
 * INDIRECT_DESC.
 */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops,
		     void *dev, uint64_t features, const struct guest_mem *gm,
		     const struct irq_line *irq, uint64_t addr);
void virtio_mmio_destroy(struct virtio_mmio *t);

#endif /* AGENTBOX_VIRTIO_MMIO_H */
