/*
 * A guest and host clients that may do anything to virtio-vsock: the
 * input is a script of tx packets (raw header and payload bytes, split
 * over two descriptors anywhere), host clients writing to SOCK (the
 * CONNECT handshake and then stream data) or hanging up, and the guest
 * taking its rx packets. The rings themselves are well formed here;
 * fuzz_virtq and fuzz_virtio cover broken rings. The device must neither
 * crash nor touch memory it should not (ASan), whatever the packets say.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "mmio_helpers.h"
#include "virtio_mmio.h"
#include "virtio_vsock.h"

#define MEM_SIZE	0x40000
#define QSIZE		8
#define RING(q)		(0x1000 + (q) * 0x3000)
#define RX_BUF		0x10000
#define RX_STRIDE	0x1000
#define TX_BUF		0x20000
#define TX_MAX		0x10000
#define CLIENTS		4
#define LISTEN_PORT	5
/* Record kinds; bit 7 of a tx record fixes the CIDs and type. */
#define R_TX		0
#define R_WRITE		1
#define R_HANGUP	2
#define R_RX		3
#define R_FIX_ADDR	0x80

static _Alignas(4096) uint8_t mem[MEM_SIZE];
static struct guest_mem gm;
static struct virtio_mmio t;
static struct virtio_vsock v;
static char dir[] = "/tmp/agentbox-fuzz-vsock-XXXXXX", sock_path[64];
static int lfd = -1;
static int cl[CLIENTS];
static uint16_t avail_idx[3], used_seen;

static void wr(uint64_t off, uint32_t val)
{
	mmio_wr(&t, off, val);
}

static void put16(uint8_t *p, uint16_t x)
{
	memcpy(p, &x, 2);
}

static void desc(unsigned int q, unsigned int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	uint8_t *d = mem + RING(q) + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	put16(d + 12, flags);
	put16(d + 14, next);
}

static void make_avail(unsigned int q, uint16_t head)
{
	ring_make_avail(mem + RING(q) + 0x1000, &avail_idx[q], QSIZE, head);
}

static void post_rx(uint16_t i, uint32_t len)
{
	desc(0, i, RX_BUF + i * RX_STRIDE, len, 2, 0);
	make_avail(0, i);
}

static void pump(void)
{
	virtio_vsock_poll(&v, 0);
	virtio_vsock_poll(&v, 0);
}

static void listen_host_port(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%d", sock_path,
		 LISTEN_PORT);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 64))
		abort();
}

/* libFuzzer leaves by exit(): take the sockets' directory with it. */
static void remove_sock_dir(void)
{
	char port_path[sizeof(sock_path) + 16];

	snprintf(port_path, sizeof(port_path), "%s_%d", sock_path, LISTEN_PORT);
	unlink(port_path);
	unlink(sock_path);
	rmdir(dir);
}

static void init_once(void)
{
	struct irq_line line = { .set = mmio_no_irq };
	char why[256];
	unsigned int i;

	log_set_fd(-1);
	if (!mkdtemp(dir) || atexit(remove_sock_dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	if (guest_mem_init(&gm, mem, MEM_SIZE, 0xc0000000, 0x100000000) ||
	    virtio_vsock_open(&v, sock_path, 3, false, why, sizeof(why)) ||
	    virtio_mmio_init(&t, &virtio_vsock_ops, &v, 0, &gm, &line,
			     0xd0001000))
		abort();
	virtio_vsock_bind(&v, &t);
	listen_host_port();
	for (i = 0; i < CLIENTS; i++)
		cl[i] = -1;
}

/* Reset and bring the device up again, as a driver reload would. */
static void start(void)
{
	unsigned int q;

	wr(STATUS, 0);
	memset(mem, 0, sizeof(mem));
	memset(avail_idx, 0, sizeof(avail_idx));
	used_seen = 0;
	wr(STATUS, S_ACK | S_DRIVER);
	wr(DRV_FEAT_SEL, 1);
	wr(DRV_FEAT, 1);	/* VIRTIO_F_VERSION_1 */
	wr(DRV_FEAT_SEL, 0);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	for (q = 0; q < 3; q++)
		mmio_setup_queue(&t, q, QSIZE, RING(q));
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	for (q = 0; q < QSIZE; q++)
		post_rx(q, RX_STRIDE);
}

static void finish(void)
{
	unsigned int i;
	int fd;

	for (i = 0; i < CLIENTS; i++) {
		if (cl[i] >= 0)
			close(cl[i]);
		cl[i] = -1;
	}
	while ((fd = accept(lfd, NULL, NULL)) >= 0)
		close(fd);
	wr(STATUS, 0);
	pump();
}

static void tx(const uint8_t *p, size_t len, uint8_t split, bool fix)
{
	uint64_t cid;
	uint16_t type = 1;
	uint32_t first;

	memcpy(mem + TX_BUF, p, len);
	if (fix && len >= 44) {
		cid = 3;
		memcpy(mem + TX_BUF, &cid, 8);
		cid = 2;
		memcpy(mem + TX_BUF + 8, &cid, 8);
		memcpy(mem + TX_BUF + 28, &type, 2);
	}
	first = split < len ? split : len;
	desc(1, 0, TX_BUF, first, len > first ? 1 : 0, 1);
	desc(1, 1, TX_BUF + first, len - first, 0, 0);
	make_avail(1, 0);
	wr(QUEUE_NOTIFY, 1);
}

static void client_write(unsigned int i, const uint8_t *p, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (cl[i] < 0) {
		cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		if (connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)))
			return;
	}
	if (send(cl[i], p, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;
}

/* The guest takes what the device gave it and posts buffers of len. */
static void take_rx(uint32_t len)
{
	uint8_t *used = mem + RING(0) + 0x2000;
	uint16_t idx, id;
	uint32_t id32;

	memcpy(&idx, used + 2, 2);
	while (used_seen != idx) {
		memcpy(&id32, used + 4 + 8 * (used_seen++ % QSIZE), 4);
		id = id32 % QSIZE;
		post_rx(id, len);
	}
	wr(QUEUE_NOTIFY, 0);
}

static size_t record(const uint8_t *d, size_t n)
{
	size_t len;

	if (n < 3)
		return n;
	len = d[1] | (size_t)d[2] << 8;
	if (len > n - 3)
		len = n - 3;
	if (len > TX_MAX)
		len = TX_MAX;
	switch (d[0] & 3) {
	case R_TX:
		tx(d + 3, len, len ? d[3] : 0, d[0] & R_FIX_ADDR);
		break;
	case R_WRITE:
		client_write(d[1] % CLIENTS, d + 3, len);
		break;
	case R_HANGUP:
		if (cl[d[1] % CLIENTS] >= 0)
			close(cl[d[1] % CLIENTS]);
		cl[d[1] % CLIENTS] = -1;
		len = 0;
		break;
	case R_RX:
		/* Buffers from a header's worth up to a page. */
		take_rx(RX_STRIDE - d[1] * 16);
		len = 0;
		break;
	}
	pump();
	return 3 + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t port;
	size_t off = 0;

	if (lfd < 0)
		init_once();
	vsock_parse_connect((const char *)data, size, &port);
	start();
	while (off < size)
		off += record(data + off, size - off);
	finish();
	return 0;
}
