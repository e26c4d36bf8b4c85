#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <linux/virtio_ids.h>

#include "chain.h"
#include "log.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "virtio_vsock.h"
#include "vsock_host.h"

#define SHUT_BOTH	(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)
#define MAX_EVENTS	(VSOCK_MAX_CONNS + 2)
#define MAX_IOV		VIRTQ_MAX_SIZE
#define SNAP_LEN	(8 + 4)

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "virtio-vsock header");
_Static_assert((VSOCK_HOST_BUF & (VSOCK_HOST_BUF - 1)) == 0,
	       "the host buffer ring needs a power-of-two size");

static void vsock_config_read(void *dev, uint32_t offset, uint8_t *data,
			      unsigned int len)
{
	struct virtio_vsock *v = dev;
	struct virtio_vsock_config cfg = { .guest_cid = v->guest_cid };

	if (offset >= sizeof(cfg))
		return;
	if (len > sizeof(cfg) - offset)
		len = sizeof(cfg) - offset;
	memcpy(data, (uint8_t *)&cfg + offset, len);
}

/* Every queue is worked by the device thread; see virtio_vsock.h. */
static void vsock_notify(void *dev, unsigned int queue)
{
	struct virtio_vsock *v = dev;

	(void)queue;
	dev_thread_kick(&v->thread);
}

/* A driver reset forgets every connection without telling anyone. */
static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS; i++)
		vsock_conn_free(v, &v->conn[i]);
	v->rst_len = 0;
	v->rx_held = false;
}

const struct virtio_dev_ops virtio_vsock_ops = {
	.name = "vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.nr_queues = 3,
	.queue_max = VSOCK_QUEUE_MAX,
	.config_read = vsock_config_read,
	.notify = vsock_notify,
	.reset = vsock_reset,
};

/* Resets for packets that matched nothing; a full ring drops them. */
static void queue_rst(struct virtio_vsock *v, uint32_t host_port,
		      uint32_t guest_port)
{
	unsigned int i;

	if (v->rst_len == VSOCK_RST_RING)
		return;
	i = (v->rst_head + v->rst_len++) % VSOCK_RST_RING;
	v->rst[i] = (struct vsock_rst){ host_port, guest_port };
}

/* Drop a connection and tell the guest, if it knows about it. */
static void conn_reset(struct virtio_vsock *v, struct vsock_conn *c)
{
	bool guest_knows = c->state == VSOCK_ESTABLISHED ||
			   (c->state == VSOCK_REQUESTED &&
			    !(c->pending & VSOCK_PEND_REQUEST));

	if (guest_knows)
		queue_rst(v, c->host_port, c->guest_port);
	vsock_conn_free(v, c);
}

/* Bytes the guest can still take on c. */
static uint32_t guest_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 :
	       c->peer_buf_alloc - in_flight;
}

/*
 * Tell the guest about freed buffer space before it can run dry: once a
 * quarter of the window went to the host socket unannounced.
 */
static void note_forwarded(struct vsock_conn *c)
{
	if (c->fwd_cnt - c->last_fwd_sent >= VSOCK_HOST_BUF / 4)
		c->pending |= VSOCK_PEND_CREDIT;
}

static bool conn_done(const struct vsock_conn *c)
{
	return c->guest_shut == SHUT_BOTH ||
	       (c->host_eof && (c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND));
}

/*
 * After buffered data reached the host socket: pass on a guest's
 * half-close, and end a connection both sides have finished with.
 */
static void settle(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state != VSOCK_ESTABLISHED || vsock_buffered(c))
		return;
	if (conn_done(c)) {
		conn_reset(v, c);
		return;
	}
	if (c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND)
		shutdown(c->fd, SHUT_WR);
}

static void flush(struct virtio_vsock *v, struct vsock_conn *c)
{
	uint32_t before = c->fwd_cnt;

	if (vsock_host_flush(c)) {
		conn_reset(v, c);
		return;
	}
	if (c->fwd_cnt != before)
		note_forwarded(c);
	settle(v, c);
}

/* Copy payload bytes [off, off + len) of the chain into c's ring. */
static int buffer_payload(struct vsock_conn *c, const struct virtq_chain *ch,
			  uint32_t off, uint32_t pos, uint32_t len)
{
	uint32_t at = pos % VSOCK_HOST_BUF;
	uint32_t first = VSOCK_HOST_BUF - at;

	first = first < len ? first : len;
	if (chain_read(ch, off, c->buf + at, first))
		return -EINVAL;
	return chain_read(ch, off + first, c->buf, len - first);
}

/* Straight to the socket when nothing is queued before it. */
static uint32_t write_direct(struct vsock_conn *c, const struct virtq_chain *ch,
			     uint32_t len)
{
	struct iovec iov[MAX_IOV];
	struct msghdr msg = { .msg_iov = iov };
	ssize_t n;
	int nr;

	if (vsock_buffered(c) || !c->can_write)
		return 0;
	nr = chain_iov(ch, false, VSOCK_HDR_LEN, len, iov, MAX_IOV);
	if (nr <= 0)
		return 0;
	msg.msg_iovlen = nr;
	do {
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* A real error shows up again on the flush that follows. */
		c->can_write = errno != EAGAIN;
		return 0;
	}
	return n;
}

static void rx_payload(struct virtio_vsock *v, struct vsock_conn *c,
		       const struct virtq_chain *ch, uint32_t len)
{
	uint32_t start = c->rx_cnt, n;

	/* The guest may only send what we advertised: more is a reset. */
	if (c->state != VSOCK_ESTABLISHED ||
	    (c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
	    vsock_buffered(c) + len > VSOCK_HOST_BUF) {
		conn_reset(v, c);
		return;
	}
	n = write_direct(c, ch, len);
	c->rx_cnt += len;
	c->fwd_cnt += n;
	if (buffer_payload(c, ch, VSOCK_HDR_LEN + n, start + n, len - n)) {
		conn_reset(v, c);
		return;
	}
	note_forwarded(c);
	flush(v, c);
}

static void guest_shutdown(struct virtio_vsock *v, struct vsock_conn *c,
			   uint32_t flags)
{
	if (c->state != VSOCK_ESTABLISHED) {
		conn_reset(v, c);
		return;
	}
	c->guest_shut |= flags & SHUT_BOTH;
	settle(v, c);
}

/* The guest accepted a host client's CONNECT: tell the client. */
static void guest_response(struct virtio_vsock *v, struct vsock_conn *c)
{
	char ok[24];
	int len;

	if (c->state != VSOCK_REQUESTED || (c->pending & VSOCK_PEND_REQUEST)) {
		conn_reset(v, c);
		return;
	}
	c->state = VSOCK_ESTABLISHED;
	len = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);
	/* The client's socket is empty at this point, so this fits. */
	if (send(c->fd, ok, len, MSG_NOSIGNAL | MSG_DONTWAIT) != len)
		conn_reset(v, c);
}

/* The guest connects to CID 2: a connection to "<SOCK>_<port>". */
static void guest_request(struct virtio_vsock *v,
			  const struct virtio_vsock_hdr *h)
{
	struct vsock_conn *c;
	int fd;

	fd = vsock_host_connect(v, h->dst_port);
	if (fd < 0) {
		queue_rst(v, h->dst_port, h->src_port);
		return;
	}
	c = vsock_conn_new(v, fd, VSOCK_ESTABLISHED);
	if (!c) {
		queue_rst(v, h->dst_port, h->src_port);
		return;
	}
	c->host_port = h->dst_port;
	c->guest_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending |= VSOCK_PEND_RESPONSE;
}

static void conn_packet(struct virtio_vsock *v, struct vsock_conn *c,
			const struct virtio_vsock_hdr *h,
			const struct virtq_chain *ch)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		guest_response(v, c);
		break;
	case VIRTIO_VSOCK_OP_RST:
		vsock_conn_free(v, c);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		guest_shutdown(v, c, h->flags);
		break;
	case VIRTIO_VSOCK_OP_RW:
		rx_payload(v, c, ch, h->len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VSOCK_PEND_CREDIT;
		break;
	default:
		/* REQUEST on a live connection, or an unknown op. */
		conn_reset(v, c);
		break;
	}
}

/* Whether a header is one we act on at all (else the packet is dropped). */
static bool addressed_to_us(const struct virtio_vsock *v,
			    const struct virtio_vsock_hdr *h)
{
	return h->src_cid == v->guest_cid && h->dst_cid == VSOCK_HOST_CID;
}

/* One tx packet: header, then h.len payload bytes in the same chain. */
static void tx_packet(struct virtio_vsock *v, const struct virtq_chain *ch)
{
	struct virtio_vsock_hdr h;
	struct vsock_conn *c;

	if (chain_read(ch, 0, &h, sizeof(h)) || !addressed_to_us(v, &h))
		return;
	c = vsock_conn_find(v, h.dst_port, h.src_port);
	if (h.type != VIRTIO_VSOCK_TYPE_STREAM || h.len > VSOCK_MAX_PKT ||
	    h.len > ch->readable_len - VSOCK_HDR_LEN) {
		if (c)
			conn_reset(v, c);
		else if (h.op != VIRTIO_VSOCK_OP_RST)
			queue_rst(v, h.dst_port, h.src_port);
		return;
	}
	if (c)
		conn_packet(v, c, &h, ch);
	else if (h.op == VIRTIO_VSOCK_OP_REQUEST)
		guest_request(v, &h);
	else if (h.op != VIRTIO_VSOCK_OP_RST)
		queue_rst(v, h.dst_port, h.src_port);
}

/*
 * At most a queue's worth per pass, so the lock a vCPU may wait for is
 * held for a bounded time; the rest waits for the next pass.
 */
static void work_tx(struct virtio_vsock *v)
{
	bool pushed = false;
	unsigned int n;
	int r = 0;

	for (n = 0; n < VSOCK_QUEUE_MAX; n++) {
		r = virtio_mmio_qpop(v->t, VSOCK_TX, &v->tx_chain);
		if (r <= 0)
			break;
		tx_packet(v, &v->tx_chain);
		if (virtio_mmio_qpush(v->t, VSOCK_TX, v->tx_chain.head, 0))
			break;
		pushed = true;
	}
	if (n == VSOCK_QUEUE_MAX)
		dev_thread_kick(&v->thread);
	if (pushed)
		virtio_mmio_qsignal(v->t, VSOCK_TX);
}

/* The rx chain to fill next, popped once and held until used. */
static struct virtq_chain *rx_chain(struct virtio_vsock *v)
{
	if (v->rx_held)
		return &v->rx_chain;
	for (;;) {
		if (virtio_mmio_qpop(v->t, VSOCK_RX, &v->rx_chain) != 1)
			return NULL;
		if (v->rx_chain.writable_len >= VSOCK_HDR_LEN)
			break;
		/* Too small for a header: give it back empty. */
		if (virtio_mmio_qpush(v->t, VSOCK_RX, v->rx_chain.head, 0))
			return NULL;
	}
	v->rx_held = true;
	return &v->rx_chain;
}

static int rx_send(struct virtio_vsock *v, struct virtio_vsock_hdr *h,
		   uint32_t payload)
{
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = v->guest_cid;
	h->type = VIRTIO_VSOCK_TYPE_STREAM;
	h->len = payload;
	if (chain_write(&v->rx_chain, 0, h, sizeof(*h)))
		return -EINVAL;
	v->rx_held = false;
	return virtio_mmio_qpush(v->t, VSOCK_RX, v->rx_chain.head,
				 VSOCK_HDR_LEN + payload);
}

static void conn_hdr(struct vsock_conn *c, struct virtio_vsock_hdr *h,
		     uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_port = c->host_port;
	h->dst_port = c->guest_port;
	h->op = op;
	h->buf_alloc = VSOCK_HOST_BUF;
	h->fwd_cnt = c->fwd_cnt;
	c->last_fwd_sent = c->fwd_cnt;
}

static int send_rst(struct virtio_vsock *v)
{
	struct vsock_rst *r = &v->rst[v->rst_head];
	struct virtio_vsock_hdr h = {
		.src_port = r->host_port,
		.dst_port = r->guest_port,
		.op = VIRTIO_VSOCK_OP_RST,
	};

	v->rst_head = (v->rst_head + 1) % VSOCK_RST_RING;
	v->rst_len--;
	return rx_send(v, &h, 0);
}

static int send_control(struct virtio_vsock *v, struct vsock_conn *c)
{
	struct virtio_vsock_hdr h;
	uint32_t bit = c->pending & -c->pending;

	c->pending &= ~bit;
	switch (bit) {
	case VSOCK_PEND_REQUEST:
		conn_hdr(c, &h, VIRTIO_VSOCK_OP_REQUEST);
		break;
	case VSOCK_PEND_RESPONSE:
		conn_hdr(c, &h, VIRTIO_VSOCK_OP_RESPONSE);
		break;
	case VSOCK_PEND_SHUTDOWN:
		conn_hdr(c, &h, VIRTIO_VSOCK_OP_SHUTDOWN);
		h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
		break;
	default:
		conn_hdr(c, &h, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		break;
	}
	return rx_send(v, &h, 0);
}

static bool wants_data(const struct vsock_conn *c)
{
	return c->state == VSOCK_ESTABLISHED && c->can_read && !c->host_eof &&
	       !(c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) && guest_credit(c);
}

/* The host socket ended: the guest hears SHUTDOWN(SEND). */
static void host_eof(struct virtio_vsock *v, struct vsock_conn *c)
{
	c->host_eof = true;
	c->pending |= VSOCK_PEND_SHUTDOWN;
	if (conn_done(c) && !vsock_buffered(c))
		conn_reset(v, c);
}

/*
 * Read from the host socket straight into the held rx chain, no more than
 * the guest's credit. 1 if the chain went to the guest, 0 if not.
 */
static int send_data(struct virtio_vsock *v, struct vsock_conn *c)
{
	struct iovec iov[MAX_IOV];
	struct virtio_vsock_hdr h;
	uint32_t max = v->rx_chain.writable_len - VSOCK_HDR_LEN;
	ssize_t n;
	int nr;

	if (!max) {
		/* Room for a header only: useless for data, give it back. */
		v->rx_held = false;
		return virtio_mmio_qpush(v->t, VSOCK_RX, v->rx_chain.head, 0) ?
		       0 : 1;
	}
	max = max < guest_credit(c) ? max : guest_credit(c);
	max = max < VSOCK_MAX_PKT ? max : VSOCK_MAX_PKT;
	nr = chain_iov(&v->rx_chain, true, VSOCK_HDR_LEN, max, iov, MAX_IOV);
	if (nr <= 0)
		return 0;
	do {
		n = readv(c->fd, iov, nr);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		c->can_read = false;
		return 0;
	}
	if (n < 0)
		conn_reset(v, c);
	if (n == 0)
		host_eof(v, c);
	if (n <= 0)
		return 0;
	conn_hdr(c, &h, VIRTIO_VSOCK_OP_RW);
	c->tx_cnt += n;
	return rx_send(v, &h, n) ? 0 : 1;
}

/* One packet for c if it has one and a chain is there: 1 if sent. */
static int serve_conn(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state == VSOCK_FREE || c->state == VSOCK_HANDSHAKE)
		return 0;
	if (!c->pending && !wants_data(c))
		return 0;
	if (!rx_chain(v))
		return -ENOBUFS;
	if (c->pending)
		return send_control(v, c) ? -EIO : 1;
	return send_data(v, c);
}

/* Fill rx buffers round-robin, one packet per connection per round. */
static void work_rx(struct virtio_vsock *v)
{
	bool pushed = false, progress = true;
	unsigned int i;
	int r;

	while (progress) {
		progress = false;
		while (v->rst_len && rx_chain(v) && !send_rst(v))
			progress = pushed = true;
		for (i = 0; i < VSOCK_MAX_CONNS; i++) {
			r = serve_conn(v, &v->conn[i]);
			if (r < 0)
				goto out;
			if (r)
				progress = pushed = true;
		}
	}
out:
	if (pushed)
		virtio_mmio_qsignal(v->t, VSOCK_RX);
}

/* A host port no connection to guest_port uses, counting up from 2^30. */
static uint32_t alloc_port(struct virtio_vsock *v, uint32_t guest_port)
{
	uint32_t port;

	do {
		port = v->next_port;
		v->next_port = port == UINT32_MAX ? VSOCK_LOCAL_PORT_BASE :
			       port + 1;
	} while (vsock_conn_find(v, port, guest_port));
	return port;
}

/* A client's CONNECT line: on to the guest as a REQUEST. */
static void work_handshake(struct virtio_vsock *v, struct vsock_conn *c)
{
	uint32_t port;
	int r;

	r = vsock_host_read_line(c, &port);
	if (r < 0)
		vsock_conn_free(v, c);
	if (r <= 0)
		return;
	c->host_port = alloc_port(v, port);
	c->guest_port = port;
	c->state = VSOCK_REQUESTED;
	c->pending = VSOCK_PEND_REQUEST;
}

static void work_hosts(struct virtio_vsock *v)
{
	struct vsock_conn *c;
	unsigned int i;

	vsock_host_accept(v);
	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		c = &v->conn[i];
		if (c->state == VSOCK_HANDSHAKE)
			work_handshake(v, c);
		else if (c->state == VSOCK_ESTABLISHED && c->can_write)
			flush(v, c);
	}
	vsock_host_expire(v);
}

static void note_event(struct virtio_vsock *v, const struct epoll_event *e)
{
	struct vsock_conn *c;

	if (e->data.u64 == VSOCK_EV_KICK) {
		dev_thread_drain(&v->thread);
	} else if (e->data.u64 == VSOCK_EV_LISTEN) {
		v->can_accept = true;
	} else {
		c = &v->conn[e->data.u64 - VSOCK_EV_CONN];
		if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->can_read = true;
		if (e->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			c->can_write = true;
	}
}

int virtio_vsock_poll(struct virtio_vsock *v, int timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	int i, n;

	virtio_mmio_lock(v->t);
	if (!v->paused)
		timeout_ms = vsock_host_wait_ms(v, timeout_ms);
	virtio_mmio_unlock(v->t);
	n = epoll_wait(v->epoll_fd, ev, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	virtio_mmio_lock(v->t);
	for (i = 0; i < n; i++)
		note_event(v, &ev[i]);
	if (!v->paused) {
		work_hosts(v);
		work_tx(v);
		work_rx(v);
	}
	virtio_mmio_unlock(v->t);
	return 0;
}

static int vsock_poll(void *dev, int timeout_ms)
{
	return virtio_vsock_poll(dev, timeout_ms);
}

int virtio_vsock_open(struct virtio_vsock *v, const char *path, uint64_t cid,
		      bool check_only, char *why, size_t n)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = VSOCK_EV_KICK };
	unsigned int i;
	int err;

	memset(v, 0, sizeof(*v));
	v->listen_fd = v->epoll_fd = v->thread.kick_fd = -1;
	for (i = 0; i < VSOCK_MAX_CONNS; i++)
		v->conn[i].fd = -1;
	if (strlen(path) > VSOCK_PATH_MAX) {
		snprintf(why, n, "%s: path longer than %d bytes", path,
			 VSOCK_PATH_MAX);
		return -ENAMETOOLONG;
	}
	strcpy(v->path, path);
	v->guest_cid = cid;
	v->next_port = VSOCK_LOCAL_PORT_BASE;
	v->handshake_ms = VSOCK_HANDSHAKE_MS;
	if (check_only)
		return vsock_host_listen(v, true, why, n);
	v->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (v->epoll_fd < 0 ||
	    dev_thread_open(&v->thread, "vsock", vsock_poll, v) ||
	    epoll_ctl(v->epoll_fd, EPOLL_CTL_ADD, v->thread.kick_fd, &ev) < 0) {
		err = -errno;
		snprintf(why, n, "%s: epoll: %s", path, strerror(-err));
		goto close_fds;
	}
	err = vsock_host_listen(v, false, why, n);
	if (err)
		goto close_fds;
	return 0;

close_fds:
	virtio_vsock_close(v);
	return err;
}

void virtio_vsock_bind(struct virtio_vsock *v, struct virtio_mmio *t)
{
	v->t = t;
}

int virtio_vsock_start(struct virtio_vsock *v)
{
	return dev_thread_start(&v->thread);
}

void virtio_vsock_close(struct virtio_vsock *v)
{
	unsigned int i;

	dev_thread_close(&v->thread);
	for (i = 0; i < VSOCK_MAX_CONNS; i++)
		vsock_conn_free(v, &v->conn[i]);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->path);
	}
	if (v->epoll_fd >= 0)
		close(v->epoll_fd);
	v->listen_fd = v->epoll_fd = -1;
}

void virtio_vsock_pause(struct virtio_vsock *v)
{
	virtio_mmio_lock(v->t);
	v->paused = true;
	virtio_mmio_unlock(v->t);
}

void virtio_vsock_resume(struct virtio_vsock *v)
{
	virtio_mmio_lock(v->t);
	v->paused = false;
	virtio_mmio_unlock(v->t);
	/* Events that came in meanwhile were only noted: work them now. */
	dev_thread_kick(&v->thread);
}

int virtio_vsock_save(struct virtio_vsock *v, struct snap_builder *b,
		      char *why, size_t n)
{
	uint8_t buf[SNAP_LEN];
	struct snap_writer w;
	bool paused;
	int err;

	snap_writer_init(&w, buf, sizeof(buf));
	virtio_mmio_lock(v->t);
	paused = v->paused;
	snap_put_u64(&w, v->guest_cid);
	snap_put_u32(&w, v->next_port);
	virtio_mmio_unlock(v->t);
	if (!paused) {
		snprintf(why, n, "vsock: device not paused");
		return -EBUSY;
	}
	err = snap_add_writer(b, SNAP_SEC_VSOCK, 0, &w);
	if (err)
		snprintf(why, n, "vsock: %s", strerror(-err));
	return err;
}

int virtio_vsock_restore(struct virtio_vsock *v, const struct snap_index *idx,
			 char *why, size_t n)
{
	struct snap_reader r;
	uint32_t port;
	int err = 0;

	if (!snap_reader_find(&r, idx, SNAP_SEC_VSOCK, 0))
		return snap_refuse(why, n, "state: vsock: missing");
	/* The saved CID is only a record; this run's --vsock decides. */
	snap_get_u64(&r);
	port = snap_get_u32(&r);
	if (!snap_reader_done(&r))
		return snap_refuse(why, n,
				   "state: vsock: %zu bytes, not what the fields take",
				   r.len);
	if (port < VSOCK_LOCAL_PORT_BASE)
		return snap_refuse(why, n,
				   "state: vsock: next host port %u, below %u",
				   port, VSOCK_LOCAL_PORT_BASE);
	virtio_mmio_lock(v->t);
	if (v->paused) {
		vsock_reset(v);
		v->next_port = port;
	} else {
		err = -EBUSY;
	}
	virtio_mmio_unlock(v->t);
	if (err)
		snprintf(why, n, "vsock: device not paused");
	return err;
}

/* Under the transport lock. */
static int send_event(struct virtio_vsock *v, uint32_t id)
{
	struct virtio_vsock_event ev = { .id = id };
	struct virtq_chain *c = &v->tx_chain;
	int r;

	if (!virtio_mmio_queue_live(v->t, VSOCK_EVENT))
		return 0;
	r = virtio_mmio_qpop(v->t, VSOCK_EVENT, c);
	if (r < 0)
		return r;
	if (!r)
		return -ENOBUFS;
	if (chain_write(c, 0, &ev, sizeof(ev))) {
		virtio_mmio_qpush(v->t, VSOCK_EVENT, c->head, 0);
		virtio_mmio_qsignal(v->t, VSOCK_EVENT);
		return -EINVAL;
	}
	r = virtio_mmio_qpush(v->t, VSOCK_EVENT, c->head, sizeof(ev));
	if (!r)
		virtio_mmio_qsignal(v->t, VSOCK_EVENT);
	return r;
}

int virtio_vsock_transport_reset(struct virtio_vsock *v)
{
	int err;

	virtio_mmio_lock(v->t);
	err = send_event(v, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	virtio_mmio_unlock(v->t);
	if (err)
		pr_warn("virtio-vsock: no transport reset for the guest (%s); its connections from before the snapshot hang until they time out",
			err == -ENOBUFS ? "it posted no event buffer" :
			strerror(-err));
	return err;
}
