/* virtio-rng: the guest's entropy comes from the host's getrandom(). */
#ifndef AGENTBOX_VIRTIO_RNG_H
#define AGENTBOX_VIRTIO_RNG_H

#include "virtio_mmio.h"

/*
 * A request gets at most this much, so a guest asking for gigabytes
 * cannot keep its vCPU in the VMM for long; fewer bytes is a valid
 * answer and the driver simply asks again.
 */
#define VIRTIO_RNG_MAX_PER_REQUEST	(64 * 1024)
#define VIRTIO_RNG_QUEUE_MAX		64

/* The device keeps no state; the transport's dev pointer may be NULL. */
extern const struct virtio_dev_ops virtio_rng_ops;

#endif /* AGENTBOX_VIRTIO_RNG_H */
