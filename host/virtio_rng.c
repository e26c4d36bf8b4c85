#include <errno.h>
#include <sys/random.h>

#include <linux/virtio_ids.h>

#include "virtio_rng.h"

static void rng_config_read(void *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	/* No config space: the bus handed us zeroed data already. */
	(void)dev;
	(void)offset;
	(void)data;
	(void)len;
}

/* Fill one buffer; returns the bytes written (short only on failure). */
static uint32_t fill(uint8_t *p, uint32_t len)
{
	uint32_t done = 0;
	ssize_t n;

	while (done < len) {
		n = getrandom(p + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += n;
	}
	return done;
}

static int rng_handle(void *dev, unsigned int queue,
		      const struct virtq_chain *c, uint32_t *written)
{
	uint32_t budget = VIRTIO_RNG_MAX_PER_REQUEST, len, n, total = 0;
	unsigned int i;

	(void)dev;
	(void)queue;
	for (i = c->nr_readable; i < c->nr_segs && budget; i++) {
		len = c->seg[i].len < budget ? c->seg[i].len : budget;
		n = fill(c->seg[i].ptr, len);
		total += n;
		budget -= n;
		if (n < len)
			break;
	}
	*written = total;
	return 0;
}

const struct virtio_dev_ops virtio_rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.queue_max = VIRTIO_RNG_QUEUE_MAX,
	.config_read = rng_config_read,
	.handle = rng_handle,
};
