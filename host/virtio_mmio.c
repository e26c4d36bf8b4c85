#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "log.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "virtio_mmio.h"

#define F(bit)			(1ULL << (bit))
#define TRANSPORT_FEATURES	(F(VIRTIO_F_VERSION_1) | \
				 F(VIRTIO_RING_F_INDIRECT_DESC))
/* No shared memory regions: their length reads as all ones. */
#define SHM_NONE		0xffffffffU

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops,
		     void *dev, uint64_t features, const struct guest_mem *gm,
		     const struct irq_line *irq, uint64_t addr)
{
	int err;

	if (ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->queue_max > VIRTQ_MAX_SIZE || !ops->handle == !ops->notify)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	err = pthread_mutex_init(&t->lock, NULL);
	if (err)
		return -err;
	t->ops = ops;
	t->dev = dev;
	t->gm = gm;
	t->irq = *irq;
	t->addr = addr;
	t->device_features = features | TRANSPORT_FEATURES;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	pthread_mutex_destroy(&t->lock);
}

static void update_irq(struct virtio_mmio *t)
{
	bool level = t->isr != 0;

	if (level == t->irq_level)
		return;
	t->irq_level = level;
	irq_line_set(&t->irq, level);
}

static void raise_isr(struct virtio_mmio *t, uint32_t bit)
{
	t->isr |= bit;
	update_irq(t);
}

static void log_failure(struct virtio_mmio *t, unsigned int queue,
			const char *why)
{
	t->nr_failures++;
	if (t->nr_failures <= VIRTIO_MMIO_FAIL_LOG_MAX)
		pr_warn("virtio-%s at 0x%llx: queue %u: %s; device needs reset",
			t->ops->name, (unsigned long long)t->addr, queue, why);
	else if (t->nr_failures == VIRTIO_MMIO_FAIL_LOG_MAX + 1)
		pr_warn("virtio-%s at 0x%llx: failed %u times; not logging further failures",
			t->ops->name, (unsigned long long)t->addr,
			t->nr_failures);
}

/*
 * The driver broke the device's view of a queue. Stop serving it until a
 * reset, tell the driver (the spec wants a config-change interrupt once
 * it is running), and say so once per failure, for the first few.
 */
static void fail(struct virtio_mmio *t, unsigned int queue, const char *why)
{
	if (!t->failed)
		log_failure(t, queue, why);
	t->failed = true;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_isr(t, VIRTIO_MMIO_INT_CONFIG);
}

static void reset(struct virtio_mmio *t)
{
	if (t->ops->reset)
		t->ops->reset(t->dev);
	t->status = 0;
	t->isr = 0;
	update_irq(t);
	t->driver_features = 0;
	t->device_features_sel = 0;
	t->driver_features_sel = 0;
	t->queue_sel = 0;
	t->failed = false;
	memset(t->q, 0, sizeof(t->q));
}

static struct virtio_queue *selected(struct virtio_mmio *t)
{
	if (t->queue_sel >= t->ops->nr_queues)
		return NULL;
	return &t->q[t->queue_sel];
}

static void serve(struct virtio_mmio *t, unsigned int qi)
{
	struct virtq *vq = &t->q[qi].vq;
	bool pushed = false;
	uint32_t written;
	int r;

	for (;;) {
		r = virtq_pop(vq, &t->chain);
		if (r == 0)
			break;
		if (r < 0) {
			fail(t, qi, "broken virtqueue");
			break;
		}
		if (t->ops->handle(t->dev, qi, &t->chain, &written)) {
			fail(t, qi, "malformed request");
			break;
		}
		if (virtq_push(vq, t->chain.head, written)) {
			fail(t, qi, "used ring rejected a chain");
			break;
		}
		pushed = true;
	}
	if (pushed && virtq_should_notify(vq))
		raise_isr(t, VIRTIO_MMIO_INT_VRING);
}

static bool running(const struct virtio_mmio *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !t->failed;
}

static void notify(struct virtio_mmio *t, uint32_t qi)
{
	if (qi >= t->ops->nr_queues || !running(t) || !t->q[qi].ready)
		return;
	if (t->ops->notify)
		t->ops->notify(t->dev, qi);
	else
		serve(t, qi);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

bool virtio_mmio_queue_live(const struct virtio_mmio *t, unsigned int qi)
{
	return qi < t->ops->nr_queues && running(t) && t->q[qi].ready;
}

int virtio_mmio_qpop(struct virtio_mmio *t, unsigned int qi,
		     struct virtq_chain *c)
{
	int r;

	if (!virtio_mmio_queue_live(t, qi))
		return 0;
	r = virtq_pop(&t->q[qi].vq, c);
	if (r < 0)
		fail(t, qi, "broken virtqueue");
	return r;
}

int virtio_mmio_qpush(struct virtio_mmio *t, unsigned int qi, uint16_t head,
		      uint32_t written)
{
	if (!virtio_mmio_queue_live(t, qi))
		return -EINVAL;
	if (virtq_push(&t->q[qi].vq, head, written)) {
		fail(t, qi, "used ring rejected a chain");
		return -EINVAL;
	}
	return 0;
}

void virtio_mmio_qsignal(struct virtio_mmio *t, unsigned int qi)
{
	if (virtio_mmio_queue_live(t, qi) &&
	    virtq_should_notify(&t->q[qi].vq))
		raise_isr(t, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_fail(struct virtio_mmio *t, unsigned int qi,
		      const char *why)
{
	fail(t, qi, why);
}

/*
 * Point the walker at the rings the driver gave: the one way a queue goes
 * live, for QueueReady and for a restore alike. -EINVAL for a size above
 * QueueNumMax or rings that are not aligned and inside guest RAM.
 */
static int map_queue(const struct virtio_mmio *t, uint64_t driver_features,
		     struct virtio_queue *q)
{
	if (q->num > t->ops->queue_max ||
	    virtq_init(&q->vq, t->gm, q->num, q->desc, q->avail, q->used))
		return -EINVAL;
	q->vq.indirect = driver_features & F(VIRTIO_RING_F_INDIRECT_DESC);
	/* Every request our devices take needs data in each buffer. */
	q->vq.no_empty = true;
	return 0;
}

static void set_queue_ready(struct virtio_mmio *t, uint32_t val)
{
	struct virtio_queue *q = selected(t);

	if (!q)
		return;
	if (!val) {
		memset(q, 0, sizeof(*q));
		return;
	}
	if (q->ready)
		return;
	if (map_queue(t, t->driver_features, q)) {
		fail(t, t->queue_sel, "bad ring size or address");
		return;
	}
	q->ready = true;
}

static bool features_ok(uint64_t device_features, uint64_t driver_features)
{
	return !(driver_features & ~device_features) &&
	       (driver_features & F(VIRTIO_F_VERSION_1));
}

/*
 * FEATURES_OK only sticks for a subset of our features that includes
 * VERSION_1 (there is no legacy interface); the driver reads the status
 * back to learn the verdict.
 */
static void write_status(struct virtio_mmio *t, uint32_t val)
{
	bool now_ok;
	unsigned int i;

	if (!val) {
		reset(t);
		return;
	}
	val &= ~VIRTIO_CONFIG_S_NEEDS_RESET;
	if ((val & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(t->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !features_ok(t->device_features, t->driver_features))
		val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	/* Nothing runs without an accepted feature set. */
	if (!(val & VIRTIO_CONFIG_S_FEATURES_OK))
		val &= ~VIRTIO_CONFIG_S_DRIVER_OK;
	now_ok = (val & VIRTIO_CONFIG_S_DRIVER_OK) &&
		 !(t->status & VIRTIO_CONFIG_S_DRIVER_OK);
	t->status = val | (t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Buffers made available before DRIVER_OK wait for it. */
	for (i = 0; now_ok && i < t->ops->nr_queues; i++)
		notify(t, i);
}

static bool features_writable(const struct virtio_mmio *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER) &&
	       !(t->status & VIRTIO_CONFIG_S_FEATURES_OK);
}

static void write_driver_features(struct virtio_mmio *t, uint32_t val)
{
	if (!features_writable(t))
		return;
	if (t->driver_features_sel == 0)
		t->driver_features = (t->driver_features & ~0xffffffffULL) | val;
	else if (t->driver_features_sel == 1)
		t->driver_features = (t->driver_features & 0xffffffffULL) |
				     (uint64_t)val << 32;
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffULL) | (uint64_t)val << 32;
	else
		*v = (*v & ~0xffffffffULL) | val;
}

/* Ring addresses and size are frozen once the queue is live. */
static void write_queue_reg(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct virtio_queue *q = selected(t);

	if (!q || q->ready)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_half(&q->avail, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_half(&q->used, off == VIRTIO_MMIO_QUEUE_USED_HIGH, val);
		break;
	}
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(t, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		set_queue_ready(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		notify(t, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->isr &= ~val;
		update_irq(t);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, val);
		break;
	default:
		write_queue_reg(t, off, val);
		break;
	}
}

static uint32_t device_features_word(const struct virtio_mmio *t)
{
	if (t->device_features_sel == 0)
		return t->device_features;
	if (t->device_features_sel == 1)
		return t->device_features >> 32;
	return 0;
}

static uint32_t read_queue_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_queue *q = selected(t);

	if (!q)
		return 0;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return t->ops->queue_max;
	case VIRTIO_MMIO_QUEUE_READY:
		return q->ready;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return q->desc;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q->desc >> 32;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		return q->avail;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return q->avail >> 32;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		return q->used;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return q->used >> 32;
	}
	return 0;
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_MODERN;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return device_features_word(t);
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->isr;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		/* Our config spaces never change while a driver runs. */
		return 0;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return SHM_NONE;
	}
	return read_queue_reg(t, off);
}

/* The spec allows only aligned 32-bit access outside config space. */
static bool is_reg_access(uint64_t off, unsigned int len)
{
	return off < VIRTIO_MMIO_CONFIG && len == 4 && off % 4 == 0;
}

static void virtio_mmio_read(void *dev, uint64_t off, uint8_t *data,
			     unsigned int len)
{
	struct virtio_mmio *t = dev;
	uint32_t val;

	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		t->ops->config_read(t->dev, off - VIRTIO_MMIO_CONFIG, data, len);
	} else if (is_reg_access(off, len)) {
		val = read_reg(t, off);
		memcpy(data, &val, sizeof(val));
	}
	pthread_mutex_unlock(&t->lock);
}

/* Config space is read-only for our devices: writes are dropped. */
static void virtio_mmio_write(void *dev, uint64_t off, const uint8_t *data,
			      unsigned int len)
{
	struct virtio_mmio *t = dev;
	uint32_t val;

	if (!is_reg_access(off, len))
		return;
	memcpy(&val, data, sizeof(val));
	pthread_mutex_lock(&t->lock);
	write_reg(t, off, val);
	pthread_mutex_unlock(&t->lock);
}

const struct bus_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};

/* The snapshot's flags byte; a queue's and the whole payload's size. */
#define SNAP_FAILED		(1U << 0)
#define SNAP_IRQ		(1U << 1)
#define SNAP_QUEUE_LEN		(4 + 1 + 3 * 8 + 2 + 2)
#define SNAP_MAX		(4 + 2 * 8 + 5 * 4 + 2 + \
				 VIRTIO_MMIO_MAX_QUEUES * SNAP_QUEUE_LEN)
#define ANY_STATUS_OK		(VIRTIO_CONFIG_S_DRIVER_OK | \
				 VIRTIO_CONFIG_S_FEATURES_OK)

/* A section as read back, checked before any of it reaches t. */
struct mmio_snap {
	uint32_t device_id;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t isr;
	uint8_t flags;
	uint8_t nr_queues;
	uint8_t ready[VIRTIO_MMIO_MAX_QUEUES];
	uint16_t last_avail_idx[VIRTIO_MMIO_MAX_QUEUES];
	uint16_t used_idx[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_queue q[VIRTIO_MMIO_MAX_QUEUES];
};

static void pack_queue(const struct virtio_queue *q, struct snap_writer *w)
{
	snap_put_u32(w, q->num);
	snap_put_u8(w, q->ready);
	snap_put_u64(w, q->desc);
	snap_put_u64(w, q->avail);
	snap_put_u64(w, q->used);
	snap_put_u16(w, q->vq.last_avail_idx);
	snap_put_u16(w, q->vq.used_idx);
}

static void pack(const struct virtio_mmio *t, struct snap_writer *w)
{
	unsigned int i;

	snap_put_u32(w, t->ops->device_id);
	snap_put_u64(w, t->device_features);
	snap_put_u64(w, t->driver_features);
	snap_put_u32(w, t->device_features_sel);
	snap_put_u32(w, t->driver_features_sel);
	snap_put_u32(w, t->queue_sel);
	snap_put_u32(w, t->status);
	snap_put_u32(w, t->isr);
	snap_put_u8(w, (t->failed ? SNAP_FAILED : 0) |
		       (t->irq_level ? SNAP_IRQ : 0));
	snap_put_u8(w, t->ops->nr_queues);
	for (i = 0; i < t->ops->nr_queues; i++)
		pack_queue(&t->q[i], w);
}

int virtio_mmio_save(struct virtio_mmio *t, unsigned int index,
		     struct snap_builder *b, char *why, size_t n)
{
	uint8_t buf[SNAP_MAX];
	struct snap_writer w;
	int err;

	snap_writer_init(&w, buf, sizeof(buf));
	pthread_mutex_lock(&t->lock);
	pack(t, &w);
	pthread_mutex_unlock(&t->lock);
	err = snap_add_writer(b, SNAP_SEC_VIRTIO_MMIO, index, &w);
	if (err)
		snprintf(why, n, "virtio %u (%s): %s", index, t->ops->name,
			 strerror(-err));
	return err;
}

static void unpack_queue(struct snap_reader *r, struct mmio_snap *st,
			 unsigned int i)
{
	st->q[i].num = snap_get_u32(r);
	st->ready[i] = snap_get_u8(r);
	st->q[i].desc = snap_get_u64(r);
	st->q[i].avail = snap_get_u64(r);
	st->q[i].used = snap_get_u64(r);
	st->last_avail_idx[i] = snap_get_u16(r);
	st->used_idx[i] = snap_get_u16(r);
}

/* The queues only if there are as many as the device has. */
static void unpack(struct snap_reader *r, const struct virtio_mmio *t,
		   struct mmio_snap *st)
{
	unsigned int i;

	memset(st, 0, sizeof(*st));
	st->device_id = snap_get_u32(r);
	st->device_features = snap_get_u64(r);
	st->driver_features = snap_get_u64(r);
	st->device_features_sel = snap_get_u32(r);
	st->driver_features_sel = snap_get_u32(r);
	st->queue_sel = snap_get_u32(r);
	st->status = snap_get_u32(r);
	st->isr = snap_get_u32(r);
	st->flags = snap_get_u8(r);
	st->nr_queues = snap_get_u8(r);
	if (st->nr_queues != t->ops->nr_queues)
		return;
	for (i = 0; i < st->nr_queues; i++)
		unpack_queue(r, st, i);
}

/* That the file describes this device, read whole. */
static int check_identity(const struct virtio_mmio *t, unsigned int index,
			  const struct mmio_snap *st,
			  const struct snap_reader *r, char *why, size_t n)
{
	if (st->device_id != t->ops->device_id)
		return snap_refuse(why, n,
				   "state: virtio %u: device id %u, but this VM has virtio-%s (id %u) there",
				   index, st->device_id, t->ops->name,
				   t->ops->device_id);
	if (st->nr_queues != t->ops->nr_queues)
		return snap_refuse(why, n,
				   "state: virtio %u: %u queues, virtio-%s has %u",
				   index, st->nr_queues, t->ops->name,
				   t->ops->nr_queues);
	if (!snap_reader_done(r))
		return snap_refuse(why, n,
				   "state: virtio %u: %zu bytes, not what the fields take",
				   index, r->len);
	if (st->device_features != t->device_features)
		return snap_refuse(why, n,
				   "state: virtio %u: device features 0x%llx, this virtio-%s offers 0x%llx",
				   index,
				   (unsigned long long)st->device_features,
				   t->ops->name,
				   (unsigned long long)t->device_features);
	return 0;
}

/*
 * What the register writes keep true: FEATURES_OK only for an accepted
 * feature set, DRIVER_OK only with it, NEEDS_RESET exactly when failed,
 * and only the two interrupt causes there are.
 */
static int check_status(unsigned int index, const struct mmio_snap *st,
			char *why, size_t n)
{
	bool needs_reset = st->status & VIRTIO_CONFIG_S_NEEDS_RESET;
	bool ok = features_ok(st->device_features, st->driver_features);

	if (st->flags & ~(SNAP_FAILED | SNAP_IRQ))
		return snap_refuse(why, n, "state: virtio %u: flags 0x%x",
				   index, st->flags);
	if (st->isr & ~(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		return snap_refuse(why, n,
				   "state: virtio %u: interrupt status 0x%x",
				   index, st->isr);
	if (needs_reset != !!(st->flags & SNAP_FAILED))
		return snap_refuse(why, n,
				   "state: virtio %u: status 0x%x disagrees with the failed flag",
				   index, st->status);
	if ((st->status & ANY_STATUS_OK) == VIRTIO_CONFIG_S_DRIVER_OK ||
	    ((st->status & VIRTIO_CONFIG_S_FEATURES_OK) && !ok))
		return snap_refuse(why, n,
				   "state: virtio %u: status 0x%x with driver features 0x%llx",
				   index, st->status,
				   (unsigned long long)st->driver_features);
	return 0;
}

/*
 * A live queue is mapped into guest RAM here, exactly as QueueReady maps
 * it; one that is not live holds whatever the driver wrote so far.
 *
 * The restored device model is new and holds no chains, so chains the
 * saved one had taken and not yet returned (vsock keeps an rx buffer
 * until there is data for it) are taken again from the avail ring. That
 * relies on every device here returning chains in the order it took
 * them, which leaves those avail entries untouched by the driver.
 */
static int check_queue(const struct virtio_mmio *t, unsigned int index,
		       struct mmio_snap *st, unsigned int i, char *why,
		       size_t n)
{
	struct virtio_queue *q = &st->q[i];
	uint32_t num = q->num;

	if (st->ready[i] > 1)
		return snap_refuse(why, n, "state: virtio %u: queue %u: ready %u",
				   index, i, st->ready[i]);
	if (!st->ready[i])
		return 0;
	if (num > t->ops->queue_max || !num || (num & (num - 1)))
		return snap_refuse(why, n,
				   "state: virtio %u: queue %u: size %u is not a power of two up to %u",
				   index, i, num, t->ops->queue_max);
	if (map_queue(t, st->driver_features, q))
		return snap_refuse(why, n,
				   "state: virtio %u: queue %u: rings at 0x%llx, 0x%llx, 0x%llx are not aligned in guest RAM",
				   index, i, (unsigned long long)q->desc,
				   (unsigned long long)q->avail,
				   (unsigned long long)q->used);
	q->ready = true;
	q->vq.last_avail_idx = st->used_idx[i];
	q->vq.used_idx = st->used_idx[i];
	return 0;
}

static int check_snap(const struct virtio_mmio *t, unsigned int index,
		      struct mmio_snap *st, const struct snap_reader *r,
		      char *why, size_t n)
{
	unsigned int i;
	int err;

	err = check_identity(t, index, st, r, why, n);
	if (!err)
		err = check_status(index, st, why, n);
	for (i = 0; !err && i < st->nr_queues; i++)
		err = check_queue(t, index, st, i, why, n);
	return err;
}

static void apply(struct virtio_mmio *t, const struct mmio_snap *st)
{
	t->driver_features = st->driver_features;
	t->device_features_sel = st->device_features_sel;
	t->driver_features_sel = st->driver_features_sel;
	t->queue_sel = st->queue_sel;
	t->status = st->status;
	t->isr = st->isr;
	t->failed = st->flags & SNAP_FAILED;
	t->irq_level = st->flags & SNAP_IRQ;
	memcpy(t->q, st->q, sizeof(t->q));
	irq_line_set(&t->irq, t->irq_level);
}

int virtio_mmio_restore(struct virtio_mmio *t, unsigned int index,
			const struct snap_index *idx, char *why, size_t n)
{
	struct mmio_snap st;
	struct snap_reader r;
	int err;

	if (!snap_reader_find(&r, idx, SNAP_SEC_VIRTIO_MMIO, index))
		return snap_refuse(why, n, "state: virtio %u: missing", index);
	unpack(&r, t, &st);
	err = check_snap(t, index, &st, &r, why, n);
	if (err)
		return err;
	pthread_mutex_lock(&t->lock);
	apply(t, &st);
	pthread_mutex_unlock(&t->lock);
	return 0;
}
