/*
 * The virtio-mmio transport with virtio-blk and virtio-rng behind it,
 * driven the way Linux's virtio_mmio driver does: 32-bit register writes,
 * the status handshake, queue setup, then requests laid out byte by byte
 * in a fake guest RAM (virtio 1.x split rings).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "check.h"
#include "log.h"
#include "mmio_helpers.h"
#include "snapshot.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_rng.h"

#define SUITE	"virtio"

#define F_INDIRECT	(1ULL << 28)
#define F_EVENT_IDX	(1ULL << 29)
#define F_VERSION_1	(1ULL << 32)
#define F_BLK_SEG_MAX	(1ULL << 2)
#define F_BLK_RO	(1ULL << 5)
#define F_BLK_FLUSH	(1ULL << 9)

/* Guest RAM: rings, an indirect table, request buffers, a big buffer. */
#define MEM_SIZE	0x40000
#define DESC		0x1000
#define AVAIL		0x2000
#define USED		0x3000
#define TABLE		0x4000
#define HDR		0x5000
#define DATA		0x6000
#define STAT		0x7000
#define BIG		0x10000
#define BIG_LEN		0x20000
#define QSIZE		8

#define SECTORS		16
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8

struct irq_rec {
	bool level;
	unsigned int raises;
};

static _Alignas(4096) uint8_t mem[MEM_SIZE];
static struct guest_mem gm;
static struct virtio_mmio t;
static struct virtio_blk blk;
static struct irq_rec irq;
static char disk_path[64];
static uint16_t next_avail;

static int rec_set(void *ctx, unsigned int gsi, bool level)
{
	struct irq_rec *r = ctx;

	(void)gsi;
	if (level && !r->level)
		r->raises++;
	r->level = level;
	return 0;
}

static uint32_t rd(uint64_t off)
{
	return mmio_rd(&t, off);
}

static void wr(uint64_t off, uint32_t v)
{
	mmio_wr(&t, off, v);
}

/* Sector s of the test disk holds the byte s + 1 throughout. */
static bool make_disk(struct check *c)
{
	uint8_t sector[512];
	unsigned int s;
	int fd;

	snprintf(disk_path, sizeof(disk_path), "/tmp/agentbox-test-XXXXXX");
	fd = mkstemp(disk_path);
	if (!CHECK(c, fd >= 0))
		return false;
	for (s = 0; s < SECTORS; s++) {
		memset(sector, s + 1, sizeof(sector));
		if (!CHECK_INT(c, write(fd, sector, sizeof(sector)), 512))
			break;
	}
	close(fd);
	return !c->failed;
}

static bool setup_mem(struct check *c)
{
	memset(mem, 0, sizeof(mem));
	memset(&irq, 0, sizeof(irq));
	next_avail = 0;
	return CHECK_INT(c, guest_mem_init(&gm, mem, MEM_SIZE, 0xc0000000,
					   0x100000000), 0);
}

static bool setup_blk(struct check *c, bool ro)
{
	struct irq_line line = { .set = rec_set, .ctx = &irq, .gsi = 5 };
	char why[256];

	if (!setup_mem(c) || !make_disk(c))
		return false;
	if (!CHECK_INT(c, virtio_blk_open(&blk, disk_path, ro, 0, why,
					  sizeof(why)), 0)) {
		check_fail(c, "%s", why);
		return false;
	}
	return CHECK_INT(c, virtio_mmio_init(&t, &virtio_blk_ops, &blk,
					     virtio_blk_features(&blk), &gm,
					     &line, 0xd0001000), 0);
}

static void teardown_blk(void)
{
	virtio_mmio_destroy(&t);
	virtio_blk_close(&blk);
	unlink(disk_path);
}

static bool setup_rng(struct check *c)
{
	struct irq_line line = { .set = rec_set, .ctx = &irq, .gsi = 6 };

	if (!setup_mem(c))
		return false;
	return CHECK_INT(c, virtio_mmio_init(&t, &virtio_rng_ops, NULL, 0, &gm,
					     &line, 0xd0002000), 0);
}

static void set_features(uint64_t f)
{
	wr(DRV_FEAT_SEL, 1);
	wr(DRV_FEAT, f >> 32);
	wr(DRV_FEAT_SEL, 0);
	wr(DRV_FEAT, (uint32_t)f);
}

static void setup_queue(uint64_t desc, uint32_t num)
{
	wr(QUEUE_SEL, 0);
	wr(QUEUE_NUM, num);
	wr(DESC_LO, (uint32_t)desc);
	wr(DESC_HI, desc >> 32);
	wr(AVAIL_LO, AVAIL);
	wr(AVAIL_HI, 0);
	wr(USED_LO, USED);
	wr(USED_HI, 0);
	wr(QUEUE_READY, 1);
}

/* What Linux does from probe to DRIVER_OK. */
static bool handshake(struct check *c, uint64_t features)
{
	wr(STATUS, 0);
	wr(STATUS, S_ACK);
	wr(STATUS, S_ACK | S_DRIVER);
	set_features(features);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!CHECK_INT(c, rd(STATUS), S_ACK | S_DRIVER | S_FEATURES_OK))
		return false;
	setup_queue(DESC, QSIZE);
	if (!CHECK_INT(c, rd(QUEUE_READY), 1))
		return false;
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return CHECK_INT(c, rd(STATUS), 0xf);
}

static void make_avail(uint16_t head)
{
	put16(mem + AVAIL + 4 + 2 * (next_avail % QSIZE), head);
	put16(mem + AVAIL + 2, ++next_avail);
}

static void put_hdr(uint32_t type, uint64_t sector)
{
	put32(mem + HDR, type);
	put32(mem + HDR + 4, 0);
	put64(mem + HDR + 8, sector);
}

/* header, data (device-writable for reads), status: descriptors 0-2. */
static void blk_request(uint32_t type, uint64_t sector, uint32_t len)
{
	bool in = type != T_OUT;

	put_hdr(type, sector);
	mem[STAT] = 0xee;
	put_desc(mem + DESC, 0, HDR, 16, D_NEXT, 1);
	put_desc(mem + DESC, 1, DATA, len, D_NEXT | (in ? D_WRITE : 0), 2);
	put_desc(mem + DESC, 2, STAT, 1, D_WRITE, 0);
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(void)
{
	return get16(mem + USED + 2);
}

static uint32_t used_len(uint16_t i)
{
	return get32(mem + USED + 4 + 8 * (i % QSIZE) + 4);
}

static void test_identity(struct check *c)
{
	if (!setup_blk(c, false))
		return;
	CHECK_U64(c, rd(MAGIC), 0x74726976);
	CHECK_U64(c, rd(VERSION), 2);
	CHECK_U64(c, rd(DEVICE_ID), 2);
	CHECK_U64(c, rd(VENDOR_ID), VIRTIO_MMIO_VENDOR);
	wr(DEV_FEAT_SEL, 0);
	CHECK_U64(c, rd(DEV_FEAT), F_INDIRECT | F_BLK_SEG_MAX | F_BLK_FLUSH);
	wr(DEV_FEAT_SEL, 1);
	CHECK_U64(c, rd(DEV_FEAT), F_VERSION_1 >> 32);
	wr(DEV_FEAT_SEL, 2);
	CHECK_U64(c, rd(DEV_FEAT), 0);
	CHECK_U64(c, rd(QUEUE_NUM_MAX), 256);
	CHECK_U64(c, rd(QUEUE_READY), 0);
	wr(QUEUE_SEL, 1);
	CHECK_U64(c, rd(QUEUE_NUM_MAX), 0);
	CHECK_U64(c, rd(CONFIG_GEN), 0);
	CHECK_U64(c, rd(SHM_LEN_LO), 0xffffffff);
	teardown_blk();
}

static void test_features_need_version_1(struct check *c)
{
	if (!setup_blk(c, false))
		return;
	wr(STATUS, S_ACK | S_DRIVER);
	set_features(F_BLK_FLUSH);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	CHECK_U64(c, rd(STATUS), S_ACK | S_DRIVER);
	/* Nor any feature we did not offer. */
	set_features(F_VERSION_1 | F_EVENT_IDX);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	CHECK_U64(c, rd(STATUS), S_ACK | S_DRIVER);
	/* DRIVER_OK without FEATURES_OK does not stick either. */
	wr(STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
	CHECK_U64(c, rd(STATUS), S_ACK | S_DRIVER);
	wr(STATUS, 0);
	CHECK_U64(c, rd(STATUS), 0);
	CHECK(c, handshake(c, F_VERSION_1 | F_BLK_FLUSH));
	/* Features are frozen once accepted. */
	set_features(F_VERSION_1 | F_EVENT_IDX);
	CHECK_U64(c, t.driver_features, F_VERSION_1 | F_BLK_FLUSH);
	teardown_blk();
}

static void test_queue_frozen_when_ready(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	wr(QUEUE_NUM, 4);
	wr(DESC_LO, 0x8000);
	CHECK_U64(c, t.q[0].num, QSIZE);
	CHECK_U64(c, rd(DESC_LO), DESC);
	wr(QUEUE_READY, 0);
	CHECK_U64(c, rd(QUEUE_READY), 0);
	teardown_blk();
}

static void test_blk_read(struct check *c)
{
	uint8_t want[1024];

	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	/* A header split over two descriptors must work all the same. */
	put_hdr(T_IN, 2);
	mem[STAT] = 0xee;
	put_desc(mem + DESC, 0, HDR, 8, D_NEXT, 1);
	put_desc(mem + DESC, 1, HDR + 8, 8, D_NEXT, 2);
	put_desc(mem + DESC, 2, DATA, 1024, D_NEXT | D_WRITE, 3);
	put_desc(mem + DESC, 3, STAT, 1, D_WRITE, 0);
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
	memset(want, 3, 512);
	memset(want + 512, 4, 512);
	CHECK_U64(c, used_idx(), 1);
	CHECK_U64(c, used_len(0), 1025);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_MEM(c, mem + DATA, want, sizeof(want));
	CHECK_U64(c, rd(INT_STATUS), 1);
	CHECK(c, irq.level);
	wr(INT_ACK, 1);
	CHECK_U64(c, rd(INT_STATUS), 0);
	CHECK(c, !irq.level);
	teardown_blk();
}

static void test_blk_write(struct check *c)
{
	uint8_t got[512], want[512];
	int fd;

	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	memset(mem + DATA, 0x77, 512);
	blk_request(T_OUT, 3, 512);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_U64(c, used_len(0), 1);
	fd = open(disk_path, O_RDONLY);
	CHECK_INT(c, pread(fd, got, 512, 3 * 512), 512);
	close(fd);
	memset(want, 0x77, 512);
	CHECK_MEM(c, got, want, 512);
	teardown_blk();
}

static void test_blk_read_only(struct check *c)
{
	uint8_t got[512], want[512];
	int fd;

	if (!setup_blk(c, true))
		return;
	wr(DEV_FEAT_SEL, 0);
	CHECK(c, rd(DEV_FEAT) & F_BLK_RO);
	if (!handshake(c, F_VERSION_1 | F_BLK_RO))
		return;
	memset(mem + DATA, 0x77, 512);
	blk_request(T_OUT, 0, 512);
	CHECK_INT(c, mem[STAT], 1);		/* VIRTIO_BLK_S_IOERR */
	fd = open(disk_path, O_RDONLY);
	CHECK_INT(c, pread(fd, got, 512, 0), 512);
	close(fd);
	memset(want, 1, 512);
	CHECK_MEM(c, got, want, 512);
	/* Reads still work. */
	blk_request(T_IN, 1, 512);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_INT(c, mem[DATA], 2);
	teardown_blk();
}

static void test_blk_bounds(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	blk_request(T_IN, SECTORS - 1, 1024);
	CHECK_INT(c, mem[STAT], 1);
	CHECK_U64(c, used_len(0), 1);
	blk_request(T_OUT, SECTORS, 512);
	CHECK_INT(c, mem[STAT], 1);
	blk_request(T_IN, UINT64_MAX, 512);
	CHECK_INT(c, mem[STAT], 1);
	blk_request(T_IN, UINT64_MAX / 512 + 1, 512);
	CHECK_INT(c, mem[STAT], 1);
	blk_request(T_IN, 0, 100);		/* not whole sectors */
	CHECK_INT(c, mem[STAT], 1);
	/* The last sector itself is fine. */
	blk_request(T_IN, SECTORS - 1, 512);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_INT(c, mem[DATA], SECTORS);
	CHECK_U64(c, used_idx(), 6);
	CHECK_U64(c, rd(STATUS), 0xf);
	teardown_blk();
}

static void test_blk_flush_id_unsupported(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1 | F_BLK_FLUSH))
		return;
	put_hdr(T_FLUSH, 0);
	put_desc(mem + DESC, 0, HDR, 16, D_NEXT, 1);
	put_desc(mem + DESC, 1, STAT, 1, D_WRITE, 0);
	mem[STAT] = 0xee;
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
	CHECK_INT(c, mem[STAT], 0);
	blk_request(T_GET_ID, 0, 20);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_STR(c, (char *)mem + DATA, "agentbox-disk0");
	CHECK_U64(c, used_len(1), 21);
	blk_request(11, 0, 512);		/* DISCARD, not offered */
	CHECK_INT(c, mem[STAT], 2);		/* VIRTIO_BLK_S_UNSUPP */
	teardown_blk();
}

static void test_blk_config(struct check *c)
{
	uint8_t b = 0;

	if (!setup_blk(c, false))
		return;
	CHECK_U64(c, rd(CONFIG), SECTORS);
	CHECK_U64(c, rd(CONFIG + 4), 0);
	CHECK_U64(c, rd(CONFIG + 12), VIRTIO_BLK_SEG_MAX);
	virtio_mmio_bus_ops.read(&t, CONFIG, &b, 1);
	CHECK_INT(c, b, SECTORS);
	CHECK_U64(c, rd(CONFIG + 0x400), 0);
	/* Config writes go nowhere. */
	wr(CONFIG, 99);
	CHECK_U64(c, rd(CONFIG), SECTORS);
	teardown_blk();
}

/* A one-sector read through an indirect table. */
static void indirect_read(uint64_t sector)
{
	put_hdr(T_IN, sector);
	put_desc(mem + TABLE, 0, HDR, 16, D_NEXT, 1);
	put_desc(mem + TABLE, 1, DATA, 512, D_NEXT | D_WRITE, 2);
	put_desc(mem + TABLE, 2, STAT, 1, D_WRITE, 0);
	put_desc(mem + DESC, 0, TABLE, 48, D_INDIRECT, 0);
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
}

static void test_indirect(struct check *c)
{
	if (!setup_blk(c, false) ||
	    !handshake(c, F_VERSION_1 | F_INDIRECT))
		return;
	indirect_read(5);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_INT(c, mem[DATA + 511], 6);
	teardown_blk();
}

static void test_notify_waits_for_driver_ok(struct check *c)
{
	if (!setup_blk(c, false))
		return;
	wr(STATUS, S_ACK | S_DRIVER);
	set_features(F_VERSION_1);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	setup_queue(DESC, QSIZE);
	blk_request(T_IN, 0, 512);
	CHECK_U64(c, used_idx(), 0);
	wr(STATUS, 0xf);
	CHECK_U64(c, used_idx(), 1);
	CHECK_INT(c, mem[STAT], 0);
	teardown_blk();
}

static void test_no_interrupt_flag(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	put16(mem + AVAIL, 1);			/* VRING_AVAIL_F_NO_INTERRUPT */
	blk_request(T_IN, 0, 512);
	CHECK_U64(c, used_idx(), 1);
	CHECK_U64(c, rd(INT_STATUS), 0);
	CHECK_INT(c, irq.raises, 0);
	teardown_blk();
}

/* A broken queue fails the device, not the VMM, until a reset. */
static void test_broken_queue(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	put16(mem + AVAIL + 2, 100);		/* idx jumps past the ring */
	wr(QUEUE_NOTIFY, 0);
	CHECK_U64(c, rd(STATUS), 0xf | S_NEEDS_RESET);
	CHECK_U64(c, rd(INT_STATUS), 2);	/* config change */
	CHECK_U64(c, used_idx(), 0);
	/* A good request now waits for the reset. */
	put16(mem + AVAIL + 2, 0);
	next_avail = 0;
	blk_request(T_IN, 0, 512);
	CHECK_U64(c, used_idx(), 0);
	/* The driver cannot clear NEEDS_RESET by writing status. */
	wr(STATUS, 0xf);
	CHECK_U64(c, rd(STATUS), 0xf | S_NEEDS_RESET);
	wr(STATUS, 0);
	CHECK_U64(c, rd(STATUS), 0);
	CHECK_U64(c, rd(INT_STATUS), 0);
	CHECK(c, !irq.level);
	memset(mem + AVAIL, 0, 0x100);
	next_avail = 0;
	if (!handshake(c, F_VERSION_1))
		return;
	blk_request(T_IN, 0, 512);
	CHECK_U64(c, used_idx(), 1);
	CHECK_INT(c, mem[STAT], 0);
	teardown_blk();
}

/*
 * A driver that breaks the device and resets it in a loop: every round
 * fails it again, but only the first few say so in the log.
 */
static void test_failure_log_bounded(struct check *c)
{
	unsigned int i;
	int fd;

	if (!setup_blk(c, false))
		return;
	fd = log_capture();
	for (i = 0; i < 1000; i++) {
		put16(mem + AVAIL + 2, 0);
		if (!handshake(c, F_VERSION_1))
			break;
		put16(mem + AVAIL + 2, 100);
		wr(QUEUE_NOTIFY, 0);
		if (!CHECK(c, rd(STATUS) & S_NEEDS_RESET))
			break;
	}
	CHECK_INT(c, log_release(fd), VIRTIO_MMIO_FAIL_LOG_MAX + 1);
	CHECK_INT(c, t.nr_failures, 1000);
	teardown_blk();
}

static void test_malformed_request(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	/* A header and no status byte: nothing to answer in. */
	put_hdr(T_IN, 0);
	put_desc(mem + DESC, 0, HDR, 16, 0, 0);
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
	CHECK(c, rd(STATUS) & S_NEEDS_RESET);
	CHECK_U64(c, used_idx(), 0);
	teardown_blk();
}

static void test_short_header(struct check *c)
{
	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1))
		return;
	put_desc(mem + DESC, 0, HDR, 8, D_NEXT, 1);
	put_desc(mem + DESC, 1, STAT, 1, D_WRITE, 0);
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
	CHECK(c, rd(STATUS) & S_NEEDS_RESET);
	teardown_blk();
}

static void test_bad_ring_address(struct check *c)
{
	if (!setup_blk(c, false))
		return;
	wr(STATUS, S_ACK | S_DRIVER);
	set_features(F_VERSION_1);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	setup_queue(MEM_SIZE - 16, QSIZE);
	CHECK_U64(c, rd(QUEUE_READY), 0);
	CHECK(c, rd(STATUS) & S_NEEDS_RESET);
	wr(STATUS, 0);
	wr(STATUS, S_ACK | S_DRIVER);
	set_features(F_VERSION_1);
	wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	setup_queue(DESC, 512);			/* above QueueNumMax */
	CHECK(c, rd(STATUS) & S_NEEDS_RESET);
	teardown_blk();
}

static void test_narrow_register_access(struct check *c)
{
	uint8_t v = S_ACK;
	uint16_t w = 0xffff;

	if (!setup_blk(c, false))
		return;
	virtio_mmio_bus_ops.write(&t, STATUS, &v, 1);
	CHECK_U64(c, rd(STATUS), 0);
	virtio_mmio_bus_ops.read(&t, MAGIC, (uint8_t *)&w, 2);
	CHECK_U64(c, w, 0xffff);		/* untouched: ignored */
	teardown_blk();
}

static void test_rng(struct check *c)
{
	uint8_t zero[64] = { 0 };

	if (!setup_rng(c) || !handshake(c, F_VERSION_1))
		return;
	CHECK_U64(c, rd(DEVICE_ID), 4);
	CHECK_U64(c, rd(QUEUE_NUM_MAX), VIRTIO_RNG_QUEUE_MAX);
	put_desc(mem + DESC, 0, DATA, 64, D_WRITE, 0);
	make_avail(0);
	wr(QUEUE_NOTIFY, 0);
	CHECK_U64(c, used_len(0), 64);
	CHECK(c, memcmp(mem + DATA, zero, 64) != 0);
	/* A huge request gets the per-request cap. */
	put_desc(mem + DESC, 1, BIG, BIG_LEN, D_WRITE, 0);
	make_avail(1);
	wr(QUEUE_NOTIFY, 0);
	CHECK_U64(c, used_len(1), VIRTIO_RNG_MAX_PER_REQUEST);
	CHECK(c, irq.level);
	virtio_mmio_destroy(&t);
}

static void no_notify(void *dev, unsigned int queue)
{
	(void)dev;
	(void)queue;
}

/* A device is served by exactly one of handle (on the vCPU) or notify. */
static void test_ops_need_one_way_to_serve(struct check *c)
{
	struct irq_line line = { .set = rec_set, .ctx = &irq, .gsi = 6 };
	struct virtio_dev_ops both = virtio_rng_ops, neither = virtio_rng_ops;

	both.notify = no_notify;
	neither.handle = NULL;
	CHECK_INT(c, virtio_mmio_init(&t, &both, NULL, 0, &gm, &line,
				      0xd0002000), -EINVAL);
	CHECK_INT(c, virtio_mmio_init(&t, &neither, NULL, 0, &gm, &line,
				      0xd0002000), -EINVAL);
}

static void test_disk_open_errors(struct check *c)
{
	struct virtio_blk a, b;
	char why[256];
	int fd;

	CHECK_INT(c, virtio_blk_open(&a, "/nonexistent/disk.img", false, 0,
				     why, sizeof(why)), -ENOENT);
	CHECK_STR(c, why, "/nonexistent/disk.img: No such file or directory");
	CHECK_INT(c, virtio_blk_open(&a, "/tmp", true, 0, why, sizeof(why)),
		  -EINVAL);
	CHECK_STR(c, why, "/tmp: not a regular file or block device");
	snprintf(disk_path, sizeof(disk_path), "/tmp/agentbox-test-XXXXXX");
	fd = mkstemp(disk_path);
	if (!CHECK(c, fd >= 0))
		return;
	CHECK_INT(c, write(fd, "tiny", 4), 4);
	close(fd);
	CHECK_INT(c, virtio_blk_open(&a, disk_path, false, 0, why,
				     sizeof(why)), -EINVAL);
	CHECK(c, strstr(why, ": smaller than one 512-byte sector") != NULL);
	truncate(disk_path, 4096);
	if (!CHECK_INT(c, virtio_blk_open(&a, disk_path, false, 0, why,
					  sizeof(why)), 0))
		goto out;
	CHECK_INT(c, virtio_blk_open(&b, disk_path, true, 1, why, sizeof(why)),
		  -EWOULDBLOCK);
	CHECK(c, strstr(why, ": in use (locked by another VM, or given twice)"));
	virtio_blk_close(&a);
	/* Read-only users share. */
	CHECK_INT(c, virtio_blk_open(&a, disk_path, true, 0, why, sizeof(why)), 0);
	CHECK_INT(c, virtio_blk_open(&b, disk_path, true, 1, why, sizeof(why)), 0);
	CHECK_U64(c, b.capacity, 8);
	virtio_blk_close(&a);
	virtio_blk_close(&b);
out:
	unlink(disk_path);
}

/* The blk transport's section: header fields, then queue 0 at Q0. */
#define SNAP_LEN	75
#define SNAP_STATUS	32
#define SNAP_FLAGS	40
#define Q0		42
#define Q0_NUM		(Q0 + 0)
#define Q0_DESC		(Q0 + 5)
#define Q0_LAST_AVAIL	(Q0 + 29)

static struct snap_index idx;

/* Save t into b and read it back, as a restore will see it. */
static bool save_transport(struct check *c, struct snap_builder *b)
{
	char why[256] = "";

	snap_builder_init(b);
	if (!CHECK_INT(c, virtio_mmio_save(&t, 0, b, why, sizeof(why)), 0) ||
	    !CHECK_INT(c, virtio_blk_save(&blk, 0, b, why, sizeof(why)), 0)) {
		check_fail(c, "%s", why);
		return false;
	}
	return CHECK_INT(c, snap_reparse(b, &idx), 0);
}

/* A fresh transport on the same disk and guest RAM, as a restore has. */
static bool fresh_blk_transport(struct check *c)
{
	struct irq_line line = { .set = rec_set, .ctx = &irq, .gsi = 5 };

	virtio_mmio_destroy(&t);
	memset(&irq, 0, sizeof(irq));
	return CHECK_INT(c, virtio_mmio_init(&t, &virtio_blk_ops, &blk,
					     virtio_blk_features(&blk), &gm,
					     &line, 0xd0001000), 0);
}

static bool restore_transport(struct check *c)
{
	char why[256] = "";

	if (CHECK_INT(c, virtio_mmio_restore(&t, 0, &idx, why, sizeof(why)),
		      0) &&
	    CHECK_INT(c, virtio_blk_restore(&blk, 0, &idx, why, sizeof(why)),
		      0))
		return true;
	check_fail(c, "%s", why);
	return false;
}

/*
 * Three requests served and one interrupt not yet acknowledged: the
 * restored transport raises it again and serves the fourth request from
 * where the first left off.
 */
static void test_snapshot_round_trip(struct check *c)
{
	struct snap_builder b;
	unsigned int i;

	if (!setup_blk(c, false) || !handshake(c, F_VERSION_1 | F_INDIRECT))
		return;
	for (i = 0; i < 3; i++)
		blk_request(T_IN, i, 512);
	wr(QUEUE_SEL, 2);
	wr(DEV_FEAT_SEL, 1);
	if (!save_transport(c, &b) || !fresh_blk_transport(c) ||
	    !restore_transport(c))
		goto out;
	CHECK(c, irq.level);
	CHECK_U64(c, rd(STATUS), 0xf);
	CHECK_U64(c, rd(INT_STATUS), 1);
	CHECK_U64(c, rd(DEV_FEAT), F_VERSION_1 >> 32);
	CHECK_U64(c, rd(QUEUE_NUM_MAX), 0);	/* queue 2 selected */
	wr(QUEUE_SEL, 0);
	CHECK_U64(c, rd(QUEUE_READY), 1);
	CHECK_U64(c, rd(DESC_LO), DESC);
	CHECK_U64(c, rd(USED_LO), USED);
	wr(INT_ACK, 1);
	CHECK(c, !irq.level);
	/* Indirect, so the negotiated features came back with the queue. */
	indirect_read(7);
	CHECK_U64(c, used_idx(), 4);
	CHECK_U64(c, used_len(3), 513);
	CHECK_INT(c, mem[STAT], 0);
	CHECK_INT(c, mem[DATA], 8);
	CHECK(c, irq.level);
out:
	snap_builder_free(&b);
	teardown_blk();
}

/* A handshaken blk transport's section, into p (SNAP_LEN bytes). */
static bool good_section(struct check *c, uint8_t *p)
{
	const struct snap_section *s;
	struct snap_builder b;
	bool ok = false;

	if (!handshake(c, F_VERSION_1) || !save_transport(c, &b))
		goto out;
	s = snap_find(&idx, SNAP_SEC_VIRTIO_MMIO, 0);
	if (CHECK(c, s) && CHECK_INT(c, s->len, SNAP_LEN)) {
		memcpy(p, s->payload, SNAP_LEN);
		ok = true;
	}
out:
	snap_builder_free(&b);
	return ok;
}

/* p as the section: refused with a reason that starts with want. */
static int restore_transport0(const struct snap_index *idx, char *why,
			      size_t n)
{
	return virtio_mmio_restore(&t, 0, idx, why, n);
}

static void refused(struct check *c, const uint8_t *p, size_t len,
		    const char *want)
{
	check_refused(c, SNAP_SEC_VIRTIO_MMIO, p, len, restore_transport0,
		      want);
	/* And nothing of it reached the transport. */
	CHECK_U64(c, rd(STATUS), 0);
}

static void test_snapshot_refused(struct check *c)
{
	uint8_t good[SNAP_LEN], p[SNAP_LEN];

	if (!setup_blk(c, false))
		return;
	if (!good_section(c, good) || !fresh_blk_transport(c))
		goto out;
	refused(c, good, SNAP_LEN - 1,
		"state: virtio 0: 74 bytes, not what the fields take");
	memcpy(p, good, SNAP_LEN);
	put32(p, 4);
	refused(c, p, SNAP_LEN,
		"state: virtio 0: device id 4, but this VM has virtio-blk (id 2) there");
	memcpy(p, good, SNAP_LEN);
	put32(p + Q0_NUM, 6);
	refused(c, p, SNAP_LEN, "state: virtio 0: queue 0: size 6 is not");
	put32(p + Q0_NUM, 512);
	refused(c, p, SNAP_LEN, "state: virtio 0: queue 0: size 512 is not");
	memcpy(p, good, SNAP_LEN);
	put64(p + Q0_DESC, MEM_SIZE - 16);
	refused(c, p, SNAP_LEN, "state: virtio 0: queue 0: rings at 0x3fff0");
	put64(p + Q0_DESC, DESC + 8);
	refused(c, p, SNAP_LEN, "state: virtio 0: queue 0: rings at 0x1008");
	memcpy(p, good, SNAP_LEN);
	put32(p + SNAP_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
	refused(c, p, SNAP_LEN, "state: virtio 0: status 0x7");
	memcpy(p, good, SNAP_LEN);
	p[SNAP_FLAGS] = 1;			/* failed, without NEEDS_RESET */
	refused(c, p, SNAP_LEN, "state: virtio 0: status 0xf disagrees");
out:
	teardown_blk();
}

/*
 * A fresh blk transport restored from a handshaken one's section with
 * queue 0's indices replaced.
 */
static bool restore_indices(struct check *c, uint16_t last_avail,
			    uint16_t used)
{
	uint8_t p[SNAP_LEN];
	struct snap_builder b;
	char why[256] = "";
	bool ok;

	if (!good_section(c, p) || !fresh_blk_transport(c))
		return false;
	put16(p + Q0_LAST_AVAIL, last_avail);
	put16(p + Q0_LAST_AVAIL + 2, used);
	snap_builder_init(&b);
	ok = CHECK_INT(c, snap_one(&idx, &b, SNAP_SEC_VIRTIO_MMIO, 0, p,
				   SNAP_LEN), 0) &&
	     CHECK_INT(c, virtio_mmio_restore(&t, 0, &idx, why, sizeof(why)),
		       0);
	snap_builder_free(&b);
	return ok;
}

/* Indices are free-running u16s: any pair is state a driver can make. */
static void test_snapshot_any_indices(struct check *c)
{
	if (!setup_blk(c, false))
		return;
	if (!restore_indices(c, 0xfffe, 0xfffe))
		goto out;
	/* Two requests carry the indices across the wrap. */
	next_avail = 0xfffe;
	put16(mem + AVAIL + 2, next_avail);
	blk_request(T_IN, 0, 512);
	blk_request(T_IN, 1, 512);
	CHECK_U64(c, used_idx(), 0);
	CHECK_U64(c, used_len(0xfffe), 513);
	CHECK_U64(c, used_len(0xffff), 513);
	CHECK_U64(c, t.q[0].vq.last_avail_idx, 0);
	CHECK_INT(c, mem[DATA], 2);
out:
	teardown_blk();
}

/*
 * A chain the saved device had taken and not returned: the restored one
 * starts empty-handed and takes it again.
 */
static void test_snapshot_retakes_held_chains(struct check *c)
{
	if (!setup_blk(c, false))
		return;
	if (!restore_indices(c, 1, 0))
		goto out;
	CHECK_U64(c, t.q[0].vq.last_avail_idx, 0);
	blk_request(T_IN, 2, 512);
	CHECK_U64(c, used_idx(), 1);
	CHECK_INT(c, mem[DATA], 3);
out:
	teardown_blk();
}

/* The disk behind the transport must be the one the guest saw. */
static void test_snapshot_other_disk(struct check *c)
{
	static const uint8_t none;
	struct snap_builder b;
	char why[256] = "";

	if (!setup_blk(c, false))
		return;
	snap_builder_init(&b);
	CHECK_INT(c, virtio_mmio_restore(&t, 1, &idx, why, sizeof(why)),
		  -EINVAL);
	if (!CHECK_INT(c, virtio_blk_save(&blk, 0, &b, why, sizeof(why)), 0) ||
	    !CHECK_INT(c, snap_reparse(&b, &idx), 0))
		goto out;
	blk.capacity--;
	CHECK_INT(c, virtio_blk_restore(&blk, 0, &idx, why, sizeof(why)),
		  -EINVAL);
	CHECK(c, strstr(why, "the guest saw 16 sectors, ") &&
		 strstr(why, " has 15"));
	blk.capacity++;
	blk.ro = true;
	CHECK_INT(c, virtio_blk_restore(&blk, 0, &idx, why, sizeof(why)),
		  -EINVAL);
	blk.ro = false;
	CHECK_INT(c, virtio_blk_restore(&blk, 0, &idx, why, sizeof(why)), 0);
	CHECK_INT(c, virtio_blk_restore(&blk, 1, &idx, why, sizeof(why)),
		  -EINVAL);
	CHECK_STR(c, why, "state: disk 1: missing");
	CHECK_INT(c, snap_one(&idx, &b, SNAP_SEC_VIRTIO_BLK, 0, &none, 1), 0);
	CHECK_INT(c, virtio_blk_restore(&blk, 0, &idx, why, sizeof(why)),
		  -EINVAL);
out:
	snap_builder_free(&b);
	teardown_blk();
}

int main(void)
{
	/* Device warnings are expected here; the checks say what matters. */
	log_set_fd(open("/dev/null", O_WRONLY));
	RUN(SUITE, test_identity);
	RUN(SUITE, test_features_need_version_1);
	RUN(SUITE, test_queue_frozen_when_ready);
	RUN(SUITE, test_blk_read);
	RUN(SUITE, test_blk_write);
	RUN(SUITE, test_blk_read_only);
	RUN(SUITE, test_blk_bounds);
	RUN(SUITE, test_blk_flush_id_unsupported);
	RUN(SUITE, test_blk_config);
	RUN(SUITE, test_indirect);
	RUN(SUITE, test_notify_waits_for_driver_ok);
	RUN(SUITE, test_no_interrupt_flag);
	RUN(SUITE, test_broken_queue);
	RUN(SUITE, test_failure_log_bounded);
	RUN(SUITE, test_malformed_request);
	RUN(SUITE, test_short_header);
	RUN(SUITE, test_bad_ring_address);
	RUN(SUITE, test_narrow_register_access);
	RUN(SUITE, test_rng);
	RUN(SUITE, test_ops_need_one_way_to_serve);
	RUN(SUITE, test_disk_open_errors);
	RUN(SUITE, test_snapshot_round_trip);
	RUN(SUITE, test_snapshot_refused);
	RUN(SUITE, test_snapshot_any_indices);
	RUN(SUITE, test_snapshot_retakes_held_chains);
	RUN(SUITE, test_snapshot_other_disk);
	return check_exit();
}
