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
#include "snapshot_file.h"
#include "virtq.h"

#define VIRTIO_MMIO_MAX_QUEUES	3
#define VIRTIO_MMIO_MAGIC	0x74726976	/* "virt" */
#define VIRTIO_MMIO_MODERN	2
/* "AGBX" read as a little-endian word. */
#define VIRTIO_MMIO_VENDOR	0x58424741
/*
 * Failures of one device that are logged; a driver that breaks and
 * resets it in a loop must not fill the host's disk through our stderr.
 */
#define VIRTIO_MMIO_FAIL_LOG_MAX	8

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
	 * A device has either handle or notify. handle serves one chain
	 * on the vCPU that notified: 0 with *written (bytes put in the
	 * writable buffers), or -EINVAL if the chain is too malformed to
	 * answer at all, which fails the device.
	 */
	int (*handle)(void *dev, unsigned int queue,
		      const struct virtq_chain *chain, uint32_t *written);
	/*
	 * For devices that answer later (vsock's rx queue holds buffers
	 * until a host socket has data): called under the transport lock
	 * on a queue notify. The device then works its queues from its
	 * own thread (dev_thread.h) with the virtio_mmio_q*() calls below,
	 * holding the lock.
	 */
	void (*notify)(void *dev, unsigned int queue);
	/* Optional: the driver reset the device (under the lock). */
	void (*reset)(void *dev);
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
	/* Times the device failed, across resets; only for the log. */
	unsigned int nr_failures;
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

/*
 * For devices with a notify hook, from their own thread: take the
 * transport lock, then check the queue is live before popping. A broken
 * queue fails the device exactly as in the synchronous path.
 */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);
bool virtio_mmio_queue_live(const struct virtio_mmio *t, unsigned int qi);
/* 1 with c filled, 0 if the driver offers nothing, -EINVAL if broken. */
int virtio_mmio_qpop(struct virtio_mmio *t, unsigned int qi,
		     struct virtq_chain *c);
int virtio_mmio_qpush(struct virtio_mmio *t, unsigned int qi, uint16_t head,
		      uint32_t written);
/* Interrupt the driver if it wants one for what was pushed. */
void virtio_mmio_qsignal(struct virtio_mmio *t, unsigned int qi);
void virtio_mmio_fail(struct virtio_mmio *t, unsigned int qi,
		      const char *why);

/*
 * SNAP_SEC_VIRTIO_MMIO, instance = virtio device index: u32 device id;
 * u64 device and driver features; u32 device and driver feature
 * selectors, queue selector, status, interrupt status; u8 flags (bit 0
 * failed, bit 1 irq line high); u8 queue count; then per queue u32 size,
 * u8 ready, u64 descriptor, avail and used ring addresses, u16
 * last_avail_idx and used_idx.
 *
 * The restore refuses a device of another type or feature set (a VM
 * given its disks in another order), then maps every live queue into
 * guest RAM as QueueReady does, refusing rings outside it, and raises
 * the line again if it was high. Indices are free-running: any value is
 * state a driver can have. Chains the device had taken but not returned
 * are taken again (last_avail_idx goes back to used_idx): the device
 * model behind a restored transport starts with none in hand.
 */
int virtio_mmio_save(struct virtio_mmio *t, unsigned int index,
		     struct snap_builder *b, char *why, size_t why_size);
int virtio_mmio_restore(struct virtio_mmio *t, unsigned int index,
			const struct snap_index *idx, char *why,
			size_t why_size);

#endif /* AGENTBOX_VIRTIO_MMIO_H */
