#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/uio.h>

#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "chain.h"
#include "log.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "virtio_net.h"

#define MAX_IOV		VIRTQ_MAX_SIZE
#define TUN_PATH	"/dev/net/tun"

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_HDR_LEN,
	       "virtio-net header");

static void net_config_read(void *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	struct virtio_net *n = dev;

	if (offset >= NET_MAC_LEN)
		return;
	if (len > NET_MAC_LEN - offset)
		len = NET_MAC_LEN - offset;
	memcpy(data, n->mac + offset, len);
}

/* Under the transport lock. New rx buffers end a starvation. */
static void net_notify(void *dev, unsigned int queue)
{
	struct virtio_net *n = dev;

	if (queue == NET_RX)
		n->rx_starved = false;
	dev_thread_kick(&n->thread);
}

static void net_reset(void *dev)
{
	struct virtio_net *n = dev;

	n->rx_held = false;
	n->rx_starved = false;
}

const struct virtio_dev_ops virtio_net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.queue_max = NET_QUEUE_MAX,
	.config_read = net_config_read,
	.notify = net_notify,
	.reset = net_reset,
};

/* A failing tap says so a few times, not once per frame. */
static void log_tap_error(struct virtio_net *n, const char *what, int err)
{
	if (n->nr_logged >= NET_LOG_MAX)
		return;
	n->nr_logged++;
	pr_warn("virtio-net: tap %s: %s: %s%s", n->ifname, what, strerror(err),
		n->nr_logged == NET_LOG_MAX ? " (no more of these)" : "");
}

/* Send one frame from the guest; a frame the tap refuses is dropped. */
static void send_frame(struct virtio_net *n, const struct virtq_chain *c)
{
	struct iovec iov[MAX_IOV];
	int nr;

	if (n->tap_dead || c->readable_len <= NET_HDR_LEN)
		goto drop;
	nr = chain_iov(c, false, NET_HDR_LEN, c->readable_len - NET_HDR_LEN,
		       iov, MAX_IOV);
	if (nr < 0)
		goto drop;
	if (writev(n->tap_fd, iov, nr) >= 0)
		return;
	/* A full tap queue or an oversized frame: what a wire would lose. */
	if (errno != EAGAIN && errno != ENOBUFS && errno != EINVAL)
		log_tap_error(n, "write", errno);
drop:
	n->tx_dropped++;
}

/* Tx buffers are the device's to read only (virtio 1.2, 5.1.6). */
static int net_tx(struct virtio_net *n, bool *more)
{
	struct virtq_chain *c = &n->tx_chain;
	unsigned int i;
	bool pushed = false;
	int r = 0;

	for (i = 0; i < NET_QUEUE_MAX; i++) {
		r = virtio_mmio_qpop(n->t, NET_TX, c);
		if (r <= 0)
			break;
		if (c->writable_len) {
			virtio_mmio_fail(n->t, NET_TX, "writable buffer in a tx chain");
			r = -EINVAL;
			break;
		}
		send_frame(n, c);
		r = virtio_mmio_qpush(n->t, NET_TX, c->head, 0);
		if (r)
			break;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_qsignal(n->t, NET_TX);
	*more = i == NET_QUEUE_MAX;
	return r < 0 ? r : 0;
}

/* 1 with an rx chain in hand, 0 if the guest has none, -EINVAL if broken. */
static int hold_rx_chain(struct virtio_net *n)
{
	struct virtq_chain *c = &n->rx_chain;
	int r;

	if (n->rx_held)
		return 1;
	r = virtio_mmio_qpop(n->t, NET_RX, c);
	if (r == 0)
		n->rx_starved = true;
	if (r <= 0)
		return r;
	if (c->nr_readable || c->writable_len <= NET_HDR_LEN) {
		virtio_mmio_fail(n->t, NET_RX, "rx buffer not writable or too small for a frame");
		return -EINVAL;
	}
	n->rx_held = true;
	return 1;
}

/* 1 if a frame went to the guest, 0 if the tap has none, < 0 on error. */
static int receive_frame(struct virtio_net *n)
{
	struct virtio_net_hdr_v1 hdr = { .num_buffers = 1 };
	struct virtq_chain *c = &n->rx_chain;
	struct iovec iov[MAX_IOV];
	ssize_t len;
	int nr;

	nr = chain_iov(c, true, NET_HDR_LEN, c->writable_len - NET_HDR_LEN,
		       iov, MAX_IOV);
	if (nr < 0)
		return nr;
	do {
		len = readv(n->tap_fd, iov, nr);
	} while (len < 0 && errno == EINTR);
	if (len < 0 && errno == EAGAIN)
		return 0;
	if (len < 0) {
		log_tap_error(n, "read", errno);
		n->tap_dead = true;
		return -errno;
	}
	if (chain_write(c, 0, &hdr, sizeof(hdr)))
		return -EINVAL;
	n->rx_held = false;
	return virtio_mmio_qpush(n->t, NET_RX, c->head, NET_HDR_LEN + len) ?
	       -EINVAL : 1;
}

static void net_rx(struct virtio_net *n, bool *more)
{
	unsigned int i;
	bool pushed = false;
	int r = 0;

	for (i = 0; i < NET_QUEUE_MAX && !n->tap_dead; i++) {
		r = hold_rx_chain(n);
		if (r <= 0)
			break;
		r = receive_frame(n);
		if (r <= 0)
			break;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_qsignal(n->t, NET_RX);
	*more = i == NET_QUEUE_MAX;
}

/* Under the lock: whether the next wait should include the tap. */
static bool wants_tap(const struct virtio_net *n)
{
	return !n->paused && !n->rx_starved && !n->tap_dead &&
	       virtio_mmio_queue_live(n->t, NET_RX);
}

int virtio_net_poll(struct virtio_net *n, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = n->thread.kick_fd, .events = POLLIN },
		{ .fd = n->tap_fd, .events = POLLIN },
	};
	bool more_tx = false, more_rx = false;
	nfds_t nr;

	virtio_mmio_lock(n->t);
	nr = wants_tap(n) ? 2 : 1;
	virtio_mmio_unlock(n->t);
	if (poll(pfd, nr, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[0].revents & POLLIN)
		dev_thread_drain(&n->thread);
	virtio_mmio_lock(n->t);
	if (!n->paused) {
		net_tx(n, &more_tx);
		net_rx(n, &more_rx);
	}
	virtio_mmio_unlock(n->t);
	/* A full pass may have left work: come round again at once. */
	if (more_tx || more_rx)
		dev_thread_kick(&n->thread);
	return 0;
}

static int net_poll(void *dev, int timeout_ms)
{
	return virtio_net_poll(dev, timeout_ms);
}

/* Unicast and locally administered, so it is nobody's vendor's. */
static int random_mac(uint8_t mac[NET_MAC_LEN])
{
	if (getrandom(mac, NET_MAC_LEN, 0) != NET_MAC_LEN)
		return -EIO;
	mac[0] = (mac[0] & 0xfc) | 0x02;
	return 0;
}

/*
 * TUNSETIFF on a name that does not exist would create a tap: only the
 * caller decides which interfaces the host has, so look first.
 */
static int open_tap(struct virtio_net *n, char *why, size_t sz)
{
	struct ifreq ifr;

	n->tap_fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap_fd < 0) {
		snprintf(why, sz, "%s: %s: %s", n->ifname, TUN_PATH,
			 strerror(errno));
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, n->ifname, sizeof(ifr.ifr_name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(n->tap_fd, TUNSETIFF, &ifr) < 0) {
		snprintf(why, sz, "%s: cannot attach (%s): not a tap, or not one this user may use",
			 n->ifname, strerror(errno));
		return -errno;
	}
	return 0;
}

int virtio_net_open(struct virtio_net *n, const char *ifname,
		    const uint8_t *mac, bool check_only, char *why, size_t sz)
{
	int err;

	memset(n, 0, sizeof(*n));
	n->tap_fd = n->thread.kick_fd = -1;
	if (!*ifname || strlen(ifname) >= IFNAMSIZ) {
		snprintf(why, sz, "%s: not an interface name (1 to %d bytes)",
			 ifname, IFNAMSIZ - 1);
		return -EINVAL;
	}
	strcpy(n->ifname, ifname);
	if (!if_nametoindex(ifname)) {
		snprintf(why, sz, "%s: no such interface; create the tap first (ip tuntap add %s mode tap)",
			 ifname, ifname);
		return -ENODEV;
	}
	if (mac)
		memcpy(n->mac, mac, NET_MAC_LEN);
	else if (random_mac(n->mac)) {
		snprintf(why, sz, "%s: no random bytes for a MAC address", ifname);
		return -EIO;
	}
	if (check_only)
		return 0;
	err = open_tap(n, why, sz);
	if (!err) {
		err = dev_thread_open(&n->thread, "net", net_poll, n);
		if (err)
			snprintf(why, sz, "%s: eventfd: %s", ifname, strerror(-err));
	}
	if (err)
		virtio_net_close(n);
	return err;
}

void virtio_net_bind(struct virtio_net *n, struct virtio_mmio *t)
{
	n->t = t;
}

int virtio_net_start(struct virtio_net *n)
{
	return dev_thread_start(&n->thread);
}

void virtio_net_close(struct virtio_net *n)
{
	dev_thread_close(&n->thread);
	if (n->tx_dropped)
		pr_info("virtio-net: %llu frames from the guest dropped",
			(unsigned long long)n->tx_dropped);
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	n->tap_fd = -1;
}

void virtio_net_pause(struct virtio_net *n)
{
	virtio_mmio_lock(n->t);
	n->paused = true;
	virtio_mmio_unlock(n->t);
	/* The thread may be in poll() on the tap: have it wait without it. */
	dev_thread_kick(&n->thread);
}

void virtio_net_resume(struct virtio_net *n)
{
	virtio_mmio_lock(n->t);
	n->paused = false;
	virtio_mmio_unlock(n->t);
	dev_thread_kick(&n->thread);
}

int virtio_net_save(struct virtio_net *n, struct snap_builder *b, char *why,
		    size_t sz)
{
	uint8_t buf[NET_MAC_LEN];
	struct snap_writer w;
	bool paused;
	int err;

	snap_writer_init(&w, buf, sizeof(buf));
	virtio_mmio_lock(n->t);
	paused = n->paused;
	snap_put_bytes(&w, n->mac, NET_MAC_LEN);
	virtio_mmio_unlock(n->t);
	if (!paused) {
		snprintf(why, sz, "net: device not paused");
		return -EBUSY;
	}
	err = snap_add_writer(b, SNAP_SEC_NET, 0, &w);
	if (err)
		snprintf(why, sz, "net: %s", strerror(-err));
	return err;
}

int virtio_net_restore(struct virtio_net *n, const struct snap_index *idx,
		       char *why, size_t sz)
{
	uint8_t mac[NET_MAC_LEN];
	struct snap_reader r;
	int err = 0;

	if (!snap_reader_find(&r, idx, SNAP_SEC_NET, 0))
		return snap_refuse(why, sz, "state: net: missing");
	snap_get_bytes(&r, mac, NET_MAC_LEN);
	if (!snap_reader_done(&r))
		return snap_refuse(why, sz,
				   "state: net: %zu bytes, not a MAC address",
				   r.len);
	virtio_mmio_lock(n->t);
	if (n->paused) {
		memcpy(n->mac, mac, NET_MAC_LEN);
		net_reset(n);
	} else {
		err = -EBUSY;
	}
	virtio_mmio_unlock(n->t);
	if (err)
		snprintf(why, sz, "net: device not paused");
	return err;
}
