/*
 * virtio-vsock driven as Linux's virtio_transport does it: rx buffers of
 * header + 4 KiB, tx packets as a header descriptor and a payload
 * descriptor, in a fake guest RAM behind the real virtio-mmio transport.
 * The host side is real unix sockets in a temporary directory. The test
 * calls virtio_vsock_poll() itself instead of running the device thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "log.h"
#include "mmio_helpers.h"
#include "options.h"
#include "snapshot.h"
#include "virtio_mmio.h"
#include "virtio_vsock.h"

#define SUITE	"vsock"

#define MEM_SIZE	0x100000
#define QSIZE		16
/* Queue q's rings at RING(q) (descriptors), + 0x1000, + 0x2000. */
#define RING(q)		(0x1000 + (q) * 0x3000)
#define RX_BUF		0x10000
#define RX_LEN		(44 + 4096)
#define RX_STRIDE	0x2000
#define TX_HDR		0x40000
#define TX_DATA		0x50000
#define TX_MAX		0x4000
#define EVT_BUF		0x80000

#define RX		0
#define TX		1
#define EVT		2
#define GUEST_CID	3

#define OP_REQUEST	1
#define OP_RESPONSE	2
#define OP_RST		3
#define OP_SHUTDOWN	4
#define OP_RW		5
#define OP_CREDIT_UPD	6
#define OP_CREDIT_REQ	7

struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
	uint8_t data[4096];
};

static _Alignas(4096) uint8_t mem[MEM_SIZE];
static struct guest_mem gm;
static struct virtio_mmio t;
static struct virtio_vsock v;
static char dir[64], sock_path[80];
static uint16_t avail_idx[3], used_seen[3];

static uint32_t rd(uint64_t off)
{
	return mmio_rd(&t, off);
}

static void wr(uint64_t off, uint32_t val)
{
	mmio_wr(&t, off, val);
}

static void make_avail(unsigned int q, uint16_t head)
{
	ring_make_avail(mem + RING(q) + 0x1000, &avail_idx[q], QSIZE, head);
}

static void post_rx(uint16_t i)
{
	put_desc(mem + RING(RX), i, RX_BUF + i * RX_STRIDE, RX_LEN, D_WRITE, 0);
	make_avail(RX, i);
}

static void pump(void)
{
	int i;

	for (i = 0; i < 4; i++)
		virtio_vsock_poll(&v, 0);
}

/* The device and its transport, on sock_path and guest RAM as they are. */
static bool attach(struct check *c)
{
	struct irq_line line = { .set = mmio_no_irq };
	char why[256];

	if (!CHECK_INT(c, virtio_vsock_open(&v, sock_path, GUEST_CID, false,
					    why, sizeof(why)), 0)) {
		check_fail(c, "%s", why);
		return false;
	}
	if (!CHECK_INT(c, virtio_mmio_init(&t, &virtio_vsock_ops, &v, 0, &gm,
					   &line, 0xd0003000), 0))
		return false;
	virtio_vsock_bind(&v, &t);
	return true;
}

static bool setup(struct check *c)
{
	uint16_t i;

	memset(mem, 0, sizeof(mem));
	memset(avail_idx, 0, sizeof(avail_idx));
	memset(used_seen, 0, sizeof(used_seen));
	snprintf(dir, sizeof(dir), "/tmp/agentbox-vsock-XXXXXX");
	if (!CHECK(c, mkdtemp(dir)))
		return false;
	snprintf(sock_path, sizeof(sock_path), "%s/v.sock", dir);
	if (!CHECK_INT(c, guest_mem_init(&gm, mem, MEM_SIZE, 0xc0000000,
					 0x100000000), 0) ||
	    !attach(c))
		return false;
	wr(STATUS, 3);
	wr(DRV_FEAT_SEL, 1);
	wr(DRV_FEAT, 1);
	wr(DRV_FEAT_SEL, 0);
	wr(STATUS, 0xb);
	for (i = 0; i < 3; i++)
		mmio_setup_queue(&t, i, QSIZE, RING(i));
	wr(STATUS, 0xf);
	for (i = 0; i < QSIZE; i++)
		post_rx(i);
	wr(QUEUE_NOTIFY, RX);
	pump();
	return CHECK_INT(c, rd(STATUS), 0xf);
}

static void teardown(void)
{
	char cmd[128];

	virtio_vsock_close(&v);
	virtio_mmio_destroy(&t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return;
}

/* The next packet the device gave the guest; its buffer goes back. */
static bool rx_next(struct pkt *p)
{
	uint8_t *used = mem + RING(RX) + 0x2000, *b;
	uint32_t id, len;

	if (get16(used + 2) == used_seen[RX])
		return false;
	id = get32(used + 4 + 8 * (used_seen[RX] % QSIZE));
	len = get32(used + 8 + 8 * (used_seen[RX] % QSIZE));
	used_seen[RX]++;
	b = mem + RX_BUF + id * RX_STRIDE;
	memset(p, 0, sizeof(*p));
	p->src_cid = get64(b);
	p->dst_cid = get64(b + 8);
	p->src_port = get32(b + 16);
	p->dst_port = get32(b + 20);
	p->len = get32(b + 24);
	p->type = get16(b + 28);
	p->op = get16(b + 30);
	p->flags = get32(b + 32);
	p->buf_alloc = get32(b + 36);
	p->fwd_cnt = get32(b + 40);
	if (len >= 44 && p->len <= sizeof(p->data) && len == 44 + p->len)
		memcpy(p->data, b + 44, p->len);
	else
		p->op = 0xffff;
	post_rx(id);
	wr(QUEUE_NOTIFY, RX);
	return true;
}

struct txh {
	uint64_t src_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
	uint16_t type, op;
	uint32_t hdr_len;
};

/* One tx packet: hdr_len header bytes (44 unless testing), then data. */
static void tx_raw(const struct txh *h, const void *data, uint32_t data_len)
{
	unsigned int k = avail_idx[TX] % (QSIZE / 2);
	uint8_t *b = mem + TX_HDR + k * 0x100;

	put64(b, h->src_cid ?: GUEST_CID);
	put64(b + 8, 2);
	put32(b + 16, h->src_port);
	put32(b + 20, h->dst_port);
	put32(b + 24, h->len);
	put16(b + 28, h->type ?: 1);
	put16(b + 30, h->op);
	put32(b + 32, h->flags);
	put32(b + 36, h->buf_alloc);
	put32(b + 40, h->fwd_cnt);
	if (data_len)
		memcpy(mem + TX_DATA + k * TX_MAX, data, data_len);
	put_desc(mem + RING(TX), 2 * k, TX_HDR + k * 0x100, h->hdr_len ?: 44,
		 data_len ? D_NEXT : 0, 2 * k + 1);
	put_desc(mem + RING(TX), 2 * k + 1, TX_DATA + k * TX_MAX, data_len, 0,
		 0);
	make_avail(TX, 2 * k);
	wr(QUEUE_NOTIFY, TX);
	pump();
}

static void tx(uint32_t src_port, uint32_t dst_port, uint16_t op,
	       uint32_t buf_alloc, uint32_t fwd_cnt, const void *data,
	       uint32_t len)
{
	struct txh h = { .src_port = src_port, .dst_port = dst_port,
			 .len = len, .op = op, .buf_alloc = buf_alloc,
			 .fwd_cnt = fwd_cnt };

	tx_raw(&h, data, len);
}

static int client(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listener(uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", sock_path, port);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0)
		return -1;
	return fd;
}

/* What fd has to read now, without waiting: bytes, 0 at EOF, -1 none. */
static ssize_t read_now(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

	return n < 0 ? -1 : n;
}

/* The device dropped us: EOF, or a reset if it left our bytes unread. */
static bool dropped(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void put_str(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		abort();
}

/* A host client through SOCK, accepted by the guest: its host port. */
static uint32_t host_connect(struct check *c, int *fd, uint32_t credit)
{
	char line[32], want[32];
	struct pkt p;
	ssize_t n;

	*fd = client(sock_path);
	if (!CHECK(c, *fd >= 0))
		return 0;
	put_str(*fd, "CONNECT 1234\n");
	pump();
	if (!CHECK(c, rx_next(&p)) || !CHECK_INT(c, p.op, OP_REQUEST))
		return 0;
	CHECK_U64(c, p.src_cid, 2);
	CHECK_U64(c, p.dst_cid, GUEST_CID);
	CHECK_INT(c, p.dst_port, 1234);
	CHECK(c, p.src_port >= VSOCK_LOCAL_PORT_BASE);
	CHECK_INT(c, p.buf_alloc, VSOCK_HOST_BUF);
	CHECK_INT(c, p.type, 1);
	tx(1234, p.src_port, OP_RESPONSE, credit, 0, NULL, 0);
	n = read_now(*fd, line, sizeof(line) - 1);
	if (!CHECK(c, n > 0))
		return 0;
	line[n] = '\0';
	snprintf(want, sizeof(want), "OK %u\n", p.src_port);
	CHECK_STR(c, line, want);
	return p.src_port;
}

/* setup() plus a host client connected to guest port 1234; 0 on failure. */
static uint32_t setup_connected(struct check *c, int *fd, uint32_t credit)
{
	uint32_t port;

	if (!setup(c))
		return 0;
	port = host_connect(c, fd, credit);
	if (!port) {
		if (*fd >= 0)
			close(*fd);
		teardown();
	}
	return port;
}

static void test_config_cid(struct check *c)
{
	uint8_t cfg[8];
	unsigned int i;

	if (!setup(c))
		return;
	for (i = 0; i < 8; i++)
		virtio_mmio_bus_ops.read(&t, CONFIG + i, cfg + i, 1);
	CHECK_U64(c, get64(cfg), GUEST_CID);
	CHECK_INT(c, rd(0x008), 19);
	teardown();
}

static void test_host_to_guest(struct check *c)
{
	uint32_t port;
	char buf[16];
	struct pkt p;
	int fd;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	put_str(fd, "hello");
	pump();
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_RW)) {
		CHECK_INT(c, p.len, 5);
		CHECK_MEM(c, p.data, "hello", 5);
		CHECK_INT(c, p.src_port, port);
	}
	tx(1234, port, OP_RW, 65536, 5, "world", 5);
	CHECK_INT(c, read_now(fd, buf, sizeof(buf)), 5);
	CHECK_MEM(c, buf, "world", 5);
	/* The guest resets: the client sees its stream end. */
	tx(1234, port, OP_RST, 0, 0, NULL, 0);
	CHECK_INT(c, read_now(fd, buf, sizeof(buf)), 0);
	close(fd);
	teardown();
}

static void test_guest_refuses(struct check *c)
{
	struct pkt p;
	char buf[8];
	int fd;

	if (!setup(c))
		return;
	fd = client(sock_path);
	put_str(fd, "CONNECT 77\n");
	pump();
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_REQUEST))
		tx(77, p.src_port, OP_RST, 0, 0, NULL, 0);
	CHECK_INT(c, read_now(fd, buf, sizeof(buf)), 0);
	close(fd);
	teardown();
}

static void test_guest_to_host(struct check *c)
{
	int lfd, fd;
	struct pkt p;
	char buf[16];

	if (!setup(c))
		return;
	lfd = listener(5000);
	if (!CHECK(c, lfd >= 0))
		goto out;
	tx(40000, 5000, OP_REQUEST, 65536, 0, NULL, 0);
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_RESPONSE)) {
		CHECK_INT(c, p.src_port, 5000);
		CHECK_INT(c, p.dst_port, 40000);
	}
	fd = accept(lfd, NULL, NULL);
	if (!CHECK(c, fd >= 0))
		goto close_listener;
	tx(40000, 5000, OP_RW, 65536, 0, "ping", 4);
	CHECK_INT(c, read_now(fd, buf, sizeof(buf)), 4);
	CHECK_MEM(c, buf, "ping", 4);
	put_str(fd, "pong");
	pump();
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_RW))
		CHECK_MEM(c, p.data, "pong", 4);
	/* The host side closes: SHUTDOWN, and a later write is a reset. */
	close(fd);
	pump();
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_SHUTDOWN))
		CHECK_INT(c, p.flags, 2);
	tx(40000, 5000, OP_RW, 65536, 4, "late", 4);
	if (CHECK(c, rx_next(&p)))
		CHECK_INT(c, p.op, OP_RST);
	/* No listener for the port: a reset. */
	tx(40001, 5001, OP_REQUEST, 65536, 0, NULL, 0);
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_RST))
		CHECK_INT(c, p.dst_port, 40001);
close_listener:
	close(lfd);
out:
	teardown();
}

/* The guest said it can take 1000 bytes: it gets 1000, then more later. */
static void test_guest_credit_honoured(struct check *c)
{
	static char big[5001];
	uint32_t port, got = 0;
	struct pkt p;
	int fd;

	port = setup_connected(c, &fd, 1000);
	if (!port)
		return;
	memset(big, 'x', sizeof(big) - 1);
	put_str(fd, big);
	pump();
	while (rx_next(&p))
		if (CHECK_INT(c, p.op, OP_RW))
			got += p.len;
	CHECK_INT(c, got, 1000);
	tx(1234, port, OP_CREDIT_UPD, 1000, 1000, NULL, 0);
	while (rx_next(&p))
		if (CHECK_INT(c, p.op, OP_RW))
			got += p.len;
	CHECK_INT(c, got, 2000);
	/* A bigger window: everything that is left. */
	tx(1234, port, OP_CREDIT_UPD, 1 << 20, 2000, NULL, 0);
	while (rx_next(&p))
		if (CHECK_INT(c, p.op, OP_RW))
			got += p.len;
	CHECK_INT(c, got, 5000);
	close(fd);
	teardown();
}

/*
 * A host socket nobody reads: we advertise VSOCK_HOST_BUF, buffer up to
 * it, and reset the guest when it sends past that.
 */
static void test_guest_overruns_credit(struct check *c)
{
	static char chunk[TX_MAX];
	uint32_t sent = 0, n;
	int lfd, fd;
	struct pkt p;
	bool rst = false;

	if (!setup(c))
		return;
	lfd = listener(6000);
	tx(40000, 6000, OP_REQUEST, 65536, 0, NULL, 0);
	fd = accept(lfd, NULL, NULL);
	if (!CHECK(c, rx_next(&p)) || !CHECK_INT(c, p.op, OP_RESPONSE))
		goto close_fds;
	CHECK_INT(c, p.buf_alloc, VSOCK_HOST_BUF);
	for (n = 0; n < 400 && !rst; n++) {
		tx(40000, 6000, OP_RW, 65536, 0, chunk, sizeof(chunk));
		sent += sizeof(chunk);
		while (rx_next(&p))
			rst |= p.op == OP_RST;
	}
	CHECK(c, rst);
	/* Not before the guest went past what we promised. */
	CHECK(c, sent > VSOCK_HOST_BUF);
close_fds:
	close(fd);
	close(lfd);
	teardown();
}

/* Credit updates reach a guest whose window the host drained. */
static void test_credit_update_sent(struct check *c)
{
	static char chunk[TX_MAX], sink[1 << 16];
	uint32_t sent = 0, last_fwd = 0;
	int lfd, fd;
	struct pkt p;

	if (!setup(c))
		return;
	lfd = listener(6001);
	tx(40000, 6001, OP_REQUEST, 65536, 0, NULL, 0);
	fd = accept(lfd, NULL, NULL);
	rx_next(&p);
	while (sent < 4 * VSOCK_HOST_BUF) {
		tx(40000, 6001, OP_RW, 65536, 0, chunk, sizeof(chunk));
		sent += sizeof(chunk);
		while (read_now(fd, sink, sizeof(sink)) > 0)
			;
		pump();
		while (rx_next(&p))
			if (CHECK_INT(c, p.op, OP_CREDIT_UPD))
				last_fwd = p.fwd_cnt;
	}
	/* The guest never saw less than 3/4 of the window free. */
	CHECK(c, sent - last_fwd <= VSOCK_HOST_BUF / 4 + TX_MAX);
	tx(40000, 6001, OP_CREDIT_REQ, 65536, 0, NULL, 0);
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_CREDIT_UPD))
		CHECK_INT(c, p.fwd_cnt, sent);
	close(fd);
	close(lfd);
	teardown();
}

static void test_malformed(struct check *c)
{
	struct txh h = { .src_port = 40000, .dst_port = 7000, .op = OP_RW };
	struct pkt p;

	if (!setup(c))
		return;
	/* A header cut short: dropped, nothing to answer. */
	h.hdr_len = 20;
	tx_raw(&h, NULL, 0);
	CHECK(c, !rx_next(&p));
	/* Wrong source CID: not for us. */
	h = (struct txh){ .src_cid = 9, .src_port = 1, .dst_port = 2,
			  .op = OP_REQUEST };
	tx_raw(&h, NULL, 0);
	CHECK(c, !rx_next(&p));
	/* len past the payload, a datagram type, unknown op, stray RW. */
	h = (struct txh){ .src_port = 1, .dst_port = 2, .op = OP_RW,
			  .len = 100 };
	tx_raw(&h, "abc", 3);
	CHECK(c, rx_next(&p) && p.op == OP_RST);
	h = (struct txh){ .src_port = 1, .dst_port = 2, .op = OP_REQUEST,
			  .type = 3 };
	tx_raw(&h, NULL, 0);
	CHECK(c, rx_next(&p) && p.op == OP_RST);
	tx(1, 2, 99, 0, 0, NULL, 0);
	CHECK(c, rx_next(&p) && p.op == OP_RST);
	tx(1, 2, OP_RW, 0, 0, "abc", 3);
	CHECK(c, rx_next(&p) && p.op == OP_RST);
	/* A stray RST is not answered. */
	tx(1, 2, OP_RST, 0, 0, NULL, 0);
	CHECK(c, !rx_next(&p));
	/* Payload over the 64 KiB packet limit. */
	h = (struct txh){ .src_port = 1, .dst_port = 2, .op = OP_RW,
			  .len = VSOCK_MAX_PKT + 1 };
	tx_raw(&h, "abc", 3);
	CHECK(c, rx_next(&p) && p.op == OP_RST);
	CHECK_INT(c, rd(STATUS), 0xf);
	teardown();
}

/* A descriptor outside guest RAM fails the device, not the process. */
static void test_broken_queue(struct check *c)
{
	struct pkt p;

	if (!setup(c))
		return;
	put_desc(mem + RING(TX), 0, MEM_SIZE + 0x1000, 44, 0, 0);
	make_avail(TX, 0);
	wr(QUEUE_NOTIFY, TX);
	pump();
	CHECK(c, rd(STATUS) & 0x40);
	CHECK(c, !rx_next(&p));
	teardown();
}

static void test_bad_handshake(struct check *c)
{
	static const char *const lines[] = {
		"HELLO\n", "CONNECT\n", "CONNECT \n", "CONNECT -1\n",
		"CONNECT 4294967296\n", "connect 5\n", "CONNECT 5 \n",
		"CONNECT 123456789012345678901234567890\n",
	};
	unsigned int i;
	struct pkt p;
	int fd;

	if (!setup(c))
		return;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		fd = client(sock_path);
		put_str(fd, lines[i]);
		pump();
		if (!dropped(fd))
			check_fail(c, "line %u (%s) was not refused", i,
				   lines[i]);
		close(fd);
	}
	CHECK(c, !rx_next(&p));
	teardown();
}

static void test_parse_connect(struct check *c)
{
	uint32_t port = 0;

	CHECK_INT(c, vsock_parse_connect("CONNECT 1234", 12, &port), 0);
	CHECK_INT(c, port, 1234);
	CHECK_INT(c, vsock_parse_connect("CONNECT 4294967295", 18, &port), 0);
	CHECK_U64(c, port, 4294967295U);
	CHECK_INT(c, vsock_parse_connect("CONNECT 0", 9, &port), 0);
	CHECK_INT(c, vsock_parse_connect("CONNECT 4294967296", 18, &port),
		  -EINVAL);
	CHECK_INT(c, vsock_parse_connect("CONNECT +1", 10, &port), -EINVAL);
	CHECK_INT(c, vsock_parse_connect("CONNECT", 7, &port), -EINVAL);
	CHECK_INT(c, vsock_parse_connect("CONNECT 1\r", 10, &port), -EINVAL);
	CHECK_INT(c, vsock_parse_connect("", 0, &port), -EINVAL);
}

/* Clients past the connection cap are closed at once. */
static void test_conn_cap(struct check *c)
{
	int fd[VSOCK_MAX_CONNS + 1];
	unsigned int i;
	char buf[4];

	if (!setup(c))
		return;
	for (i = 0; i <= VSOCK_MAX_CONNS; i++) {
		fd[i] = client(sock_path);
		pump();
	}
	CHECK_INT(c, read_now(fd[VSOCK_MAX_CONNS], buf, sizeof(buf)), 0);
	CHECK_INT(c, read_now(fd[0], buf, sizeof(buf)), -1);
	for (i = 0; i <= VSOCK_MAX_CONNS; i++)
		close(fd[i]);
	teardown();
}

static void test_open_errors(struct check *c)
{
	static struct virtio_vsock other;
	char why[256], path[256];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/agentbox-vsock-XXXXXX");
	if (!CHECK(c, mkdtemp(dir)))
		return;
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_INT(c, virtio_vsock_open(&v, path, 3, true, why, sizeof(why)),
		  -EEXIST);
	CHECK(c, strstr(why, "not a socket") != NULL);
	snprintf(path, sizeof(path), "%s/%0100d", dir, 0);
	CHECK_INT(c, virtio_vsock_open(&v, path, 3, true, why, sizeof(why)),
		  -ENAMETOOLONG);
	/* A live listener is someone else's; a stale socket is taken over. */
	snprintf(path, sizeof(path), "%s/s", dir);
	CHECK_INT(c, virtio_vsock_open(&v, path, 3, false, why, sizeof(why)),
		  0);
	CHECK_INT(c, virtio_vsock_open(&other, path, 3, true, why,
				       sizeof(why)), -EADDRINUSE);
	virtio_vsock_close(&v);
	CHECK_INT(c, virtio_vsock_open(&other, path, 3, true, why,
				       sizeof(why)), 0);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return;
}

/* The guest half-closes, then closes: EOF on the host, then a reset. */
static void test_guest_shutdown(struct check *c)
{
	uint32_t port;
	char buf[8];
	struct pkt p;
	int fd;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	tx(1234, port, OP_RW, 65536, 0, "bye", 3);
	tx(1234, port, OP_SHUTDOWN, 65536, 0, NULL, 0);
	CHECK(c, !rx_next(&p));
	/* Flags 2 (SEND): the host reads the data, then EOF... */
	tx_raw(&(struct txh){ .src_port = 1234, .dst_port = port,
			      .op = OP_SHUTDOWN, .flags = 2,
			      .buf_alloc = 65536 }, NULL, 0);
	CHECK_INT(c, read_now(fd, buf, sizeof(buf)), 3);
	CHECK_INT(c, read_now(fd, buf, sizeof(buf)), 0);
	/* ...but can still send. */
	put_str(fd, "ok");
	pump();
	CHECK(c, rx_next(&p) && p.op == OP_RW && p.len == 2);
	/* Both flags: the device ends it with a reset and closes. */
	tx_raw(&(struct txh){ .src_port = 1234, .dst_port = port,
			      .op = OP_SHUTDOWN, .flags = 3,
			      .buf_alloc = 65536 }, NULL, 0);
	if (CHECK(c, rx_next(&p)))
		CHECK_INT(c, p.op, OP_RST);
	CHECK(c, dropped(fd));
	close(fd);
	teardown();
}

/* A client that hangs up mid-stream: SHUTDOWN, then RST on more data. */
static void test_client_hangs_up(struct check *c)
{
	uint32_t port;
	struct pkt p;
	int fd;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	put_str(fd, "partial");
	close(fd);
	pump();
	CHECK(c, rx_next(&p) && p.op == OP_RW && p.len == 7);
	if (CHECK(c, rx_next(&p)) && CHECK_INT(c, p.op, OP_SHUTDOWN))
		CHECK_INT(c, p.flags, 2);
	tx(1234, port, OP_RW, 65536, 7, "more", 4);
	CHECK(c, rx_next(&p) && p.op == OP_RST);
	/* The slot is free again: the same guest port takes a new client. */
	port = host_connect(c, &fd, 65536);
	CHECK(c, port != 0);
	close(fd);
	teardown();
}

/* A driver reset forgets every connection and closes its socket. */
static void test_device_reset(struct check *c)
{
	uint32_t port;
	int fd;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	wr(STATUS, 0);
	CHECK(c, dropped(fd));
	close(fd);
	teardown();
}

/* An rx buffer with room for a header only carries no data. */
static void test_tiny_rx_buffer(struct check *c)
{
	uint8_t *used = mem + RING(RX) + 0x2000;
	uint32_t port;
	struct pkt p;
	int fd;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	/* Drain the posted buffers, then offer one of 44 bytes. */
	while (get16(used + 2) - used_seen[RX] < QSIZE) {
		put_str(fd, "x");
		pump();
	}
	used_seen[RX] = get16(used + 2);
	put_desc(mem + RING(RX), 0, RX_BUF, 44, D_WRITE, 0);
	make_avail(RX, 0);
	put_str(fd, "data");
	wr(QUEUE_NOTIFY, RX);
	pump();
	CHECK_INT(c, get16(used + 2) - used_seen[RX], 1);
	CHECK_INT(c, get32(used + 8 + 8 * (used_seen[RX] % QSIZE)), 0);
	used_seen[RX]++;
	post_rx(1);
	wr(QUEUE_NOTIFY, RX);
	pump();
	CHECK(c, rx_next(&p) && p.op == OP_RW && p.len == 4);
	close(fd);
	teardown();
}

static void test_options(struct check *c)
{
	static const char *const bad_args[] = {
		"", ",cid=5", "/tmp/s,cid=2", "/tmp/s,cid=", "/tmp/s,cid=x",
		"/tmp/s,cid=-3", "/tmp/s,cid=4294967295",
		"/tmp/s,cid=99999999999999999999",
	};
	char why[256], path[128];
	struct run_opts o;
	char *argv[5] = { "--kernel", "k", "--vsock", NULL, NULL };
	unsigned int i;

	argv[3] = "/tmp/s";
	if (CHECK_INT(c, opts_parse(&o, 4, argv, why, sizeof(why)), 0)) {
		CHECK_STR(c, o.vsock, "/tmp/s");
		CHECK_INT(c, o.vsock_cid, 3);
	}
	opts_release(&o);
	argv[3] = "/tmp/a,cid=x,cid=42";
	if (CHECK_INT(c, opts_parse(&o, 4, argv, why, sizeof(why)), 0)) {
		CHECK_STR(c, o.vsock, "/tmp/a,cid=x");
		CHECK_INT(c, o.vsock_cid, 42);
	}
	opts_release(&o);
	for (i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		argv[3] = (char *)bad_args[i];
		if (opts_parse(&o, 4, argv, why, sizeof(why)) != -EINVAL ||
		    strncmp(why, "--vsock ", 8))
			check_fail(c, "--vsock '%s' was accepted", bad_args[i]);
		opts_release(&o);
	}
	snprintf(path, sizeof(path), "/tmp/%0100d", 0);
	argv[3] = path;
	CHECK_INT(c, opts_parse(&o, 4, argv, why, sizeof(why)), -EINVAL);
	CHECK(c, strstr(why, "longer than 96 bytes") != NULL);
	opts_release(&o);
}

/* An event buffer of len bytes, 0xff until the device writes it. */
static void post_event(uint16_t i, uint32_t len)
{
	memset(mem + EVT_BUF + 16 * i, 0xff, 16);
	put_desc(mem + RING(EVT), i, EVT_BUF + 16 * i, len, D_WRITE, 0);
	make_avail(EVT, i);
	wr(QUEUE_NOTIFY, EVT);
	pump();
}

static uint16_t evt_used(void)
{
	return get16(mem + RING(EVT) + 0x2000 + 2);
}

static void test_transport_reset(struct check *c)
{
	uint8_t *used = mem + RING(EVT) + 0x2000;

	if (!setup(c))
		return;
	CHECK_INT(c, virtio_vsock_transport_reset(&v), -ENOBUFS);
	post_event(0, 4);
	post_event(1, 4);
	/* The device keeps them until it has something to say. */
	CHECK_INT(c, evt_used(), 0);
	wr(INT_ACK, rd(INT_STATUS));
	CHECK_INT(c, virtio_vsock_transport_reset(&v), 0);
	CHECK_INT(c, evt_used(), 1);
	CHECK_INT(c, get32(used + 4), 0);
	CHECK_INT(c, get32(used + 8), 4);
	/* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET is id 0. */
	CHECK_U64(c, get32(mem + EVT_BUF), 0);
	CHECK_U64(c, get32(mem + EVT_BUF + 16), 0xffffffff);
	CHECK_INT(c, rd(INT_STATUS), 1);
	/* A buffer too small for the event goes back empty. */
	CHECK_INT(c, virtio_vsock_transport_reset(&v), 0);
	post_event(2, 2);
	CHECK_INT(c, virtio_vsock_transport_reset(&v), -EINVAL);
	CHECK_INT(c, evt_used(), 3);
	CHECK_INT(c, get32(used + 8 + 8 * 2), 0);
	CHECK_INT(c, rd(STATUS), 0xf);
	teardown();
}

/* With no driver there are no guest connections to reset. */
static void test_transport_reset_no_driver(struct check *c)
{
	if (!setup(c))
		return;
	wr(STATUS, 0);
	CHECK_INT(c, virtio_vsock_transport_reset(&v), 0);
	teardown();
}

static bool save_device(struct check *c, struct snap_builder *b,
			struct snap_index *idx)
{
	char why[256] = "";

	snap_builder_init(b);
	virtio_vsock_pause(&v);
	if (CHECK_INT(c, virtio_mmio_save(&t, 0, b, why, sizeof(why)), 0) &&
	    CHECK_INT(c, virtio_vsock_save(&v, b, why, sizeof(why)), 0))
		return CHECK_INT(c, snap_reparse(b, idx), 0);
	check_fail(c, "%s", why);
	return false;
}

/* A new device on the same socket path, restored from idx. */
static bool restore_device(struct check *c, const struct snap_index *idx)
{
	char why[256] = "";

	virtio_vsock_close(&v);
	virtio_mmio_destroy(&t);
	if (!attach(c))
		return false;
	virtio_vsock_pause(&v);
	if (!CHECK_INT(c, virtio_mmio_restore(&t, 0, idx, why, sizeof(why)),
		       0) ||
	    !CHECK_INT(c, virtio_vsock_restore(&v, idx, why, sizeof(why)), 0)) {
		check_fail(c, "%s", why);
		return false;
	}
	CHECK_INT(c, virtio_vsock_transport_reset(&v), 0);
	virtio_vsock_resume(&v);
	return true;
}

/*
 * A connection and an rx buffer held for its data at the snapshot: the
 * restored device has neither, gives the buffer back to the queue,
 * resets the guest's transport and numbers new connections on.
 */
static void test_snapshot_round_trip(struct check *c)
{
	static struct snap_index idx;
	struct snap_builder b;
	uint32_t port, port2;
	struct pkt p;
	int fd, fd2;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	post_event(0, 4);
	CHECK_INT(c, (uint16_t)(t.q[RX].vq.last_avail_idx -
				t.q[RX].vq.used_idx), 1);
	if (!save_device(c, &b, &idx))
		goto out;
	put_str(fd, "lost");
	if (!restore_device(c, &idx))
		goto out;
	CHECK_INT(c, t.q[RX].vq.last_avail_idx, t.q[RX].vq.used_idx);
	CHECK(c, dropped(fd));
	CHECK_INT(c, evt_used(), 1);
	CHECK_U64(c, get32(mem + EVT_BUF), 0);
	pump();
	CHECK(c, !rx_next(&p));
	/* The port counter went on; the held buffer carries the request. */
	port2 = host_connect(c, &fd2, 65536);
	CHECK_INT(c, port2, port + 1);
	if (port2)
		close(fd2);
out:
	close(fd);
	snap_builder_free(&b);
	teardown();
}

static int restore_vsock(const struct snap_index *idx, char *why, size_t n)
{
	return virtio_vsock_restore(&v, idx, why, n);
}

static void test_snapshot_refused(struct check *c)
{
	static struct snap_index idx;
	struct snap_builder b;
	uint8_t p[12] = { 3 };
	char why[256] = "";

	snap_builder_init(&b);
	if (!setup(c))
		return;
	CHECK_INT(c, virtio_vsock_save(&v, &b, why, sizeof(why)), -EBUSY);
	CHECK_STR(c, why, "vsock: device not paused");
	put32(p + 8, VSOCK_LOCAL_PORT_BASE);
	CHECK_INT(c, snap_one(&idx, &b, SNAP_SEC_VSOCK, 0, p, sizeof(p)), 0);
	CHECK_INT(c, virtio_vsock_restore(&v, &idx, why, sizeof(why)), -EBUSY);
	virtio_vsock_pause(&v);
	CHECK_INT(c, virtio_vsock_restore(&v, &idx, why, sizeof(why)), 0);
	check_refused(c, SNAP_SEC_VSOCK, p, sizeof(p) - 1, restore_vsock,
		      "state: vsock: 11 bytes, not what the fields take");
	put32(p + 8, 7);
	check_refused(c, SNAP_SEC_VSOCK, p, sizeof(p), restore_vsock,
		      "state: vsock: next host port 7");
	memset(&idx, 0, sizeof(idx));
	CHECK_INT(c, virtio_vsock_restore(&v, &idx, why, sizeof(why)),
		  -EINVAL);
	CHECK_STR(c, why, "state: vsock: missing");
	snap_builder_free(&b);
	teardown();
}

/* Paused, the device moves nothing; resumed, it catches up. */
static void test_pause(struct check *c)
{
	uint32_t port;
	struct pkt p;
	int fd;

	port = setup_connected(c, &fd, 65536);
	if (!port)
		return;
	virtio_vsock_pause(&v);
	put_str(fd, "held");
	pump();
	CHECK(c, !rx_next(&p));
	virtio_vsock_resume(&v);
	pump();
	CHECK(c, rx_next(&p) && p.op == OP_RW && p.len == 4);
	close(fd);
	teardown();
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

/*
 * A client that never finishes its CONNECT line loses its slot once its
 * time is up, and the thread's wait ends then without any event.
 */
static void test_handshake_timeout(struct check *c)
{
	struct timespec start;
	int slow;

	if (!setup(c))
		return;
	v.handshake_ms = 50;
	slow = client(sock_path);
	put_str(slow, "CONN");
	pump();
	CHECK(c, !dropped(slow));
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!dropped(slow) && elapsed_ms(&start) < 2000)
		virtio_vsock_poll(&v, 2000);
	CHECK(c, dropped(slow));
	CHECK(c, elapsed_ms(&start) < 1000);
	close(slow);
	teardown();
}

int main(void)
{
	log_set_fd(open("/dev/null", O_WRONLY));
	RUN(SUITE, test_config_cid);
	RUN(SUITE, test_host_to_guest);
	RUN(SUITE, test_guest_refuses);
	RUN(SUITE, test_guest_to_host);
	RUN(SUITE, test_guest_credit_honoured);
	RUN(SUITE, test_guest_overruns_credit);
	RUN(SUITE, test_credit_update_sent);
	RUN(SUITE, test_malformed);
	RUN(SUITE, test_broken_queue);
	RUN(SUITE, test_bad_handshake);
	RUN(SUITE, test_parse_connect);
	RUN(SUITE, test_conn_cap);
	RUN(SUITE, test_open_errors);
	RUN(SUITE, test_guest_shutdown);
	RUN(SUITE, test_tiny_rx_buffer);
	RUN(SUITE, test_client_hangs_up);
	RUN(SUITE, test_device_reset);
	RUN(SUITE, test_options);
	RUN(SUITE, test_transport_reset);
	RUN(SUITE, test_transport_reset_no_driver);
	RUN(SUITE, test_snapshot_round_trip);
	RUN(SUITE, test_snapshot_refused);
	RUN(SUITE, test_pause);
	RUN(SUITE, test_handshake_timeout);
	return check_exit();
}
