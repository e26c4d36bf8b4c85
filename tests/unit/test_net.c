/*
 * virtio-net driven as Linux's virtio_net does it without offloads: rx
 * buffers of header + 1518 bytes, tx frames as a header descriptor and a
 * frame descriptor, in a fake guest RAM behind the real virtio-mmio
 * transport. A SOCK_SEQPACKET socketpair stands in for the tap: it keeps
 * frame boundaries as a tap does, without needing CAP_NET_ADMIN. The
 * test calls virtio_net_poll() itself instead of running the thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "check.h"
#include "log.h"
#include "mmio_helpers.h"
#include "options.h"
#include "snapshot.h"
#include "virtio_mmio.h"
#include "virtio_net.h"

#define SUITE	"net"

#define MEM_SIZE	0x100000
#define QSIZE		16
#define RING(q)		(0x1000 + (q) * 0x3000)
#define RX_BUF		0x10000
#define RX_LEN		(12 + 1518)
#define RX_STRIDE	0x800
#define TX_HDR		0x40000
#define TX_DATA		0x50000
#define HDR		12

static _Alignas(4096) uint8_t mem[MEM_SIZE];
static struct guest_mem gm;
static struct virtio_mmio t;
static struct virtio_net n;
/* The "host" end of the tap. */
static int peer = -1;
static uint16_t avail_idx[2], used_seen[2];
static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static void wr(uint64_t off, uint32_t val)
{
	mmio_wr(&t, off, val);
}

static void make_avail(unsigned int q, uint16_t head)
{
	ring_make_avail(mem + RING(q) + 0x1000, &avail_idx[q], QSIZE, head);
}

static void post_rx(uint16_t i, uint32_t len)
{
	put_desc(mem + RING(NET_RX), i, RX_BUF + i * RX_STRIDE, len, D_WRITE, 0);
	make_avail(NET_RX, i);
	wr(QUEUE_NOTIFY, NET_RX);
}

static void pump(void)
{
	int i;

	for (i = 0; i < 4; i++)
		virtio_net_poll(&n, 0);
}

/* The device on a socketpair instead of a tap, as open would leave it. */
static bool attach(struct check *c)
{
	struct irq_line line = { .set = mmio_no_irq };
	int sv[2];

	memset(&n, 0, sizeof(n));
	strcpy(n.ifname, "fake0");
	memcpy(n.mac, mac, sizeof(mac));
	if (!CHECK_INT(c, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0))
		return false;
	n.tap_fd = sv[0];
	peer = sv[1];
	/* The tests call virtio_net_poll themselves: no thread starts. */
	if (!CHECK_INT(c, dev_thread_open(&n.thread, "net", NULL, &n), 0))
		return false;
	if (!CHECK_INT(c, virtio_mmio_init(&t, &virtio_net_ops, &n, 1ULL << 5,
					   &gm, &line, 0xd0003000), 0))
		return false;
	virtio_net_bind(&n, &t);
	return true;
}

static bool setup(struct check *c)
{
	memset(mem, 0, sizeof(mem));
	memset(avail_idx, 0, sizeof(avail_idx));
	memset(used_seen, 0, sizeof(used_seen));
	if (!CHECK_INT(c, guest_mem_init(&gm, mem, MEM_SIZE, 0xc0000000,
					 0x100000000), 0) ||
	    !attach(c))
		return false;
	wr(STATUS, 3);
	wr(DRV_FEAT_SEL, 1);
	wr(DRV_FEAT, 1);
	wr(DRV_FEAT_SEL, 0);
	wr(DRV_FEAT, 1U << 5);
	wr(STATUS, 0xb);
	mmio_setup_queue(&t, NET_RX, QSIZE, RING(NET_RX));
	mmio_setup_queue(&t, NET_TX, QSIZE, RING(NET_TX));
	wr(STATUS, 0xf);
	return CHECK_INT(c, mmio_rd(&t, STATUS), 0xf);
}

static void teardown(void)
{
	virtio_net_close(&n);
	virtio_mmio_destroy(&t);
	if (peer >= 0)
		close(peer);
	peer = -1;
}

/* Used entries of queue q not looked at yet: 1 with id and len. */
static bool used_next(unsigned int q, uint32_t *id, uint32_t *len)
{
	uint8_t *used = mem + RING(q) + 0x2000;

	if (get16(used + 2) == used_seen[q])
		return false;
	*id = get32(used + 4 + 8 * (used_seen[q] % QSIZE));
	*len = get32(used + 8 + 8 * (used_seen[q] % QSIZE));
	used_seen[q]++;
	return true;
}

/* The guest sends frame as Linux does: header, then the frame. */
static void send_tx(uint16_t head, const void *frame, uint32_t len)
{
	memset(mem + TX_HDR + head * HDR, 0, HDR);
	memcpy(mem + TX_DATA + head * 0x1000, frame, len);
	put_desc(mem + RING(NET_TX), head, TX_HDR + head * HDR, HDR, D_NEXT,
		 head + 1);
	put_desc(mem + RING(NET_TX), head + 1, TX_DATA + head * 0x1000, len, 0,
		 0);
	make_avail(NET_TX, head);
	wr(QUEUE_NOTIFY, NET_TX);
}

static void test_config_mac(struct check *c)
{
	uint8_t got[6];
	unsigned int i;

	if (!setup(c))
		goto out;
	for (i = 0; i < 6; i++)
		virtio_mmio_bus_ops.read(&t, CONFIG + i, &got[i], 1);
	CHECK_MEM(c, got, mac, 6);
	CHECK_INT(c, mmio_rd(&t, DEVICE_ID), 1);
out:
	teardown();
}

static void test_tx(struct check *c)
{
	uint8_t frame[60], got[100];
	uint32_t id, len;

	if (!setup(c))
		goto out;
	memset(frame, 0xab, sizeof(frame));
	frame[0] = 0xff;
	send_tx(0, frame, sizeof(frame));
	pump();
	CHECK_INT(c, read(peer, got, sizeof(got)), sizeof(frame));
	CHECK_MEM(c, got, frame, sizeof(frame));
	CHECK(c, used_next(NET_TX, &id, &len));
	CHECK_INT(c, id, 0);
	CHECK_INT(c, len, 0);
out:
	teardown();
}

static void test_rx(struct check *c)
{
	uint8_t frame[1514], hdr[HDR] = { 0 };
	uint32_t id, len;

	if (!setup(c))
		goto out;
	post_rx(0, RX_LEN);
	memset(frame, 0x5a, sizeof(frame));
	CHECK_INT(c, write(peer, frame, sizeof(frame)), sizeof(frame));
	pump();
	if (!CHECK(c, used_next(NET_RX, &id, &len)))
		goto out;
	CHECK_INT(c, id, 0);
	CHECK_INT(c, len, HDR + sizeof(frame));
	put16(hdr + 10, 1);
	CHECK_MEM(c, mem + RX_BUF, hdr, HDR);
	CHECK_MEM(c, mem + RX_BUF + HDR, frame, sizeof(frame));
out:
	teardown();
}

/* A frame waits in the tap until the guest posts a buffer for it. */
static void test_rx_waits_for_buffers(struct check *c)
{
	uint8_t frame[64];
	uint32_t id, len;

	if (!setup(c))
		goto out;
	memset(frame, 1, sizeof(frame));
	CHECK_INT(c, write(peer, frame, sizeof(frame)), sizeof(frame));
	pump();
	CHECK(c, n.rx_starved);
	CHECK(c, !used_next(NET_RX, &id, &len));
	post_rx(3, RX_LEN);
	CHECK(c, !n.rx_starved);
	pump();
	CHECK(c, used_next(NET_RX, &id, &len));
	CHECK_INT(c, id, 3);
	CHECK_INT(c, len, HDR + sizeof(frame));
out:
	teardown();
}

static void test_malformed_tx(struct check *c)
{
	if (!setup(c))
		goto out;
	put_desc(mem + RING(NET_TX), 0, TX_HDR, 64, D_WRITE, 0);
	make_avail(NET_TX, 0);
	wr(QUEUE_NOTIFY, NET_TX);
	pump();
	CHECK(c, mmio_rd(&t, STATUS) & S_NEEDS_RESET);
out:
	teardown();
}

static void test_tiny_rx_buffer(struct check *c)
{
	uint8_t frame[64] = { 0 };

	if (!setup(c))
		goto out;
	CHECK_INT(c, write(peer, frame, sizeof(frame)), sizeof(frame));
	post_rx(0, 8);
	pump();
	CHECK(c, mmio_rd(&t, STATUS) & S_NEEDS_RESET);
out:
	teardown();
}

/* A runt frame (header only) is dropped, and its buffer still returned. */
static void test_tx_runt_dropped(struct check *c)
{
	uint32_t id, len;
	uint8_t got[16];

	if (!setup(c))
		goto out;
	put_desc(mem + RING(NET_TX), 0, TX_HDR, HDR, 0, 0);
	make_avail(NET_TX, 0);
	wr(QUEUE_NOTIFY, NET_TX);
	pump();
	CHECK(c, used_next(NET_TX, &id, &len));
	CHECK_INT(c, read(peer, got, sizeof(got)), -1);
	CHECK_U64(c, n.tx_dropped, 1);
	CHECK_INT(c, mmio_rd(&t, STATUS), 0xf);
out:
	teardown();
}

static void test_pause(struct check *c)
{
	uint8_t frame[64] = { 7 };
	uint32_t id, len;

	if (!setup(c))
		goto out;
	post_rx(0, RX_LEN);
	virtio_net_pause(&n);
	CHECK_INT(c, write(peer, frame, sizeof(frame)), sizeof(frame));
	pump();
	CHECK(c, !used_next(NET_RX, &id, &len));
	virtio_net_resume(&n);
	pump();
	CHECK(c, used_next(NET_RX, &id, &len));
out:
	teardown();
}

/* The restored device has the snapshot's MAC, whatever it was opened with. */
static void test_snapshot_round_trip(struct check *c)
{
	static struct snap_index idx;
	struct snap_builder b;
	char why[256] = "";
	uint8_t got[6];
	unsigned int i;

	snap_builder_init(&b);
	if (!setup(c))
		goto out;
	CHECK_INT(c, virtio_net_save(&n, &b, why, sizeof(why)), -EBUSY);
	virtio_net_pause(&n);
	if (!CHECK_INT(c, virtio_mmio_save(&t, 0, &b, why, sizeof(why)), 0) ||
	    !CHECK_INT(c, virtio_net_save(&n, &b, why, sizeof(why)), 0) ||
	    !CHECK_INT(c, snap_reparse(&b, &idx), 0))
		goto out;
	teardown();
	if (!attach(c))
		goto out;
	memset(n.mac, 0, sizeof(n.mac));
	virtio_net_pause(&n);
	CHECK_INT(c, virtio_mmio_restore(&t, 0, &idx, why, sizeof(why)), 0);
	CHECK_INT(c, virtio_net_restore(&n, &idx, why, sizeof(why)), 0);
	for (i = 0; i < 6; i++)
		virtio_mmio_bus_ops.read(&t, CONFIG + i, &got[i], 1);
	CHECK_MEM(c, got, mac, 6);
out:
	snap_builder_free(&b);
	teardown();
}

static void test_snapshot_refused(struct check *c)
{
	static struct snap_index idx;
	struct snap_builder b;
	uint8_t short_mac[5] = { 2 };
	char why[256] = "";

	snap_builder_init(&b);
	if (!setup(c))
		goto out;
	virtio_net_pause(&n);
	if (!CHECK_INT(c, snap_reparse(&b, &idx), 0))
		goto out;
	CHECK(c, virtio_net_restore(&n, &idx, why, sizeof(why)) < 0);
	CHECK_STR(c, why, "state: net: missing");
	snap_builder_free(&b);
	snap_builder_init(&b);
	CHECK_INT(c, snap_add_section(&b, SNAP_SEC_NET, 0, short_mac, sizeof(short_mac)), 0);
	if (!CHECK_INT(c, snap_reparse(&b, &idx), 0))
		goto out;
	CHECK(c, virtio_net_restore(&n, &idx, why, sizeof(why)) < 0);
	CHECK_STR(c, why, "state: net: 5 bytes, not a MAC address");
out:
	snap_builder_free(&b);
	teardown();
}

static void test_open_errors(struct check *c)
{
	char why[256] = "";

	CHECK_INT(c, virtio_net_open(&n, "nosuchtap0", NULL, true, why, sizeof(why)),
		  -ENODEV);
	CHECK_STR(c, why, "nosuchtap0: no such interface; create the tap first (ip tuntap add nosuchtap0 mode tap)");
	CHECK_INT(c, virtio_net_open(&n, "0123456789abcdef", NULL, true, why,
				     sizeof(why)), -EINVAL);
	/* lo exists and is no tap: a dry run only checks it is there. */
	CHECK_INT(c, virtio_net_open(&n, "lo", NULL, true, why, sizeof(why)), 0);
	CHECK_INT(c, n.mac[0] & 3, 2);
	virtio_net_close(&n);
}

static void test_options(struct check *c)
{
	static const uint8_t want[6] = { 0x02, 0, 0, 0, 0, 0xaa };
	char *ok[] = { "--kernel", "k", "--net", "tap=ab0,mac=02:00:00:00:00:aA" };
	char *restore[] = { "dir", "--net", "tap=ab0,mac=02:00:00:00:00:aa" };
	struct run_opts o;
	char why[256] = "";
	struct {
		const char *arg, *why;
	} bad[] = {
		{ "ab0", "--net ab0: not tap=NAME, the only kind of network" },
		{ "tap=", "--net tap=: the tap's name must have 1 to 15 bytes" },
		{ "tap=0123456789abcdef", "--net tap=0123456789abcdef: the tap's name must have 1 to 15 bytes" },
		{ "tap=a,mac=01:00:00:00:00:01", "--net tap=a,mac=01:00:00:00:00:01: mac is not a unicast address like 02:00:00:00:00:01" },
		{ "tap=a,mac=02:00:00:00:00", "--net tap=a,mac=02:00:00:00:00: mac is not a unicast address like 02:00:00:00:00:01" },
		{ "tap=a,mac=02-00-00-00-00-01", "--net tap=a,mac=02-00-00-00-00-01: mac is not a unicast address like 02:00:00:00:00:01" },
	};
	char *argv[4] = { "--kernel", "k", "--net", NULL };
	unsigned int i;

	if (CHECK_INT(c, opts_parse(&o, 4, ok, why, sizeof(why)), 0)) {
		CHECK_STR(c, o.net_tap, "ab0");
		CHECK(c, o.has_net_mac);
		CHECK_MEM(c, o.net_mac, want, 6);
	}
	opts_release(&o);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[3] = (char *)bad[i].arg;
		CHECK_INT(c, opts_parse(&o, 4, argv, why, sizeof(why)), -EINVAL);
		CHECK_STR(c, why, bad[i].why);
		opts_release(&o);
	}
	CHECK_INT(c, opts_parse_restore(&o, 3, restore, why, sizeof(why)), -EINVAL);
	CHECK_STR(c, why, "--net tap=ab0,mac=...: a restore keeps the snapshot's MAC address");
	opts_release(&o);
}

int main(void)
{
	log_set_fd(open("/dev/null", O_WRONLY));
	RUN(SUITE, test_config_mac);
	RUN(SUITE, test_tx);
	RUN(SUITE, test_rx);
	RUN(SUITE, test_rx_waits_for_buffers);
	RUN(SUITE, test_malformed_tx);
	RUN(SUITE, test_tiny_rx_buffer);
	RUN(SUITE, test_tx_runt_dropped);
	RUN(SUITE, test_pause);
	RUN(SUITE, test_snapshot_round_trip);
	RUN(SUITE, test_snapshot_refused);
	RUN(SUITE, test_open_errors);
	RUN(SUITE, test_options);
	return check_exit();
}
