/*
 * Write a few valid inputs for each fuzz target, so the fuzzers start
 * from real structure instead of having to discover "HdrS" and ring
 * layouts byte by byte.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "fuzz_input.h"
#include "images.h"
#include "protocol.h"
#include "snapshot.h"
#include "snapshot_wire.h"

#define VQ_MEM		0x6000
#define VQ_DESC		0x1000
#define VQ_AVAIL	0x2000
#define VQ_USED		0x3000
#define VQ_TABLE	0x4000
#define VQ_SHIFT	3	/* 8 entries */

static int write_file(const char *dir, const char *name, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	char path[4096];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (fwrite(a, 1, alen, f) != alen || fwrite(b, 1, blen, f) != blen)
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	return err;
}

static int make_dir(const char *base, const char *name, char *out,
		    size_t size)
{
	snprintf(out, size, "%s/%s", base, name);
	if (mkdir(base, 0755) && errno != EEXIST)
		return -errno;
	if (mkdir(out, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int kernel_seeds(const char *base)
{
	static uint8_t img[0x4000];
	char dir[4096];
	uint8_t sel;
	size_t len;
	int err;

	err = make_dir(base, "fuzz_kernel", dir, sizeof(dir));
	if (err)
		return err;
	len = make_elf(img);
	sel = FUZZ_KERNEL_BIG | 1;		/* 512 MiB, parse only */
	err = write_file(dir, "elf-512m", &sel, 1, img, len);
	sel = 72;				/* 19 MiB, loaded */
	if (!err)
		err = write_file(dir, "elf-19m", &sel, 1, img, len);
	len = make_bzimage(img);
	sel = 40;				/* 11 MiB, loaded */
	if (!err)
		err = write_file(dir, "bz-11m", &sel, 1, img, len);
	sel = FUZZ_KERNEL_BIG | 15;		/* 4 GiB */
	if (!err)
		err = write_file(dir, "bz-4g", &sel, 1, img, len);
	return err;
}

static void desc(uint8_t *mem, uint64_t table, unsigned int i, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem + table + 16 * i;

	put64(d, addr);
	put32(d + 8, len);
	put16(d + 12, flags);
	put16(d + 14, next);
}

/* Two chains: a direct read+write pair and an indirect three-buffer one. */
static void vq_image(uint8_t *mem)
{
	memset(mem, 0, VQ_MEM);
	desc(mem, VQ_DESC, 0, 0x5000, 16, 1, 1);
	desc(mem, VQ_DESC, 1, 0x5100, 64, 2, 0);
	desc(mem, VQ_DESC, 2, VQ_TABLE, 48, 4, 0);
	desc(mem, VQ_TABLE, 0, 0x5200, 8, 1, 1);
	desc(mem, VQ_TABLE, 1, 0x5300, 8, 3, 2);
	desc(mem, VQ_TABLE, 2, 0x5400, 8, 2, 0);
	put16(mem + VQ_AVAIL + 2, 2);		/* avail.idx */
	put16(mem + VQ_AVAIL + 4, 0);		/* ring[0] = chain 0 */
	put16(mem + VQ_AVAIL + 6, 2);		/* ring[1] = chain 2 */
}

static int virtq_seeds(const char *base)
{
	static uint8_t mem[VQ_MEM];
	struct fuzz_virtq_hdr h = {
		.size_shift = VQ_SHIFT,
		.flags = FUZZ_VQ_INDIRECT,
		.desc = VQ_DESC,
		.avail = VQ_AVAIL,
		.used = VQ_USED,
	};
	char dir[4096];
	int err;

	err = make_dir(base, "fuzz_virtq", dir, sizeof(dir));
	if (err)
		return err;
	vq_image(mem);
	err = write_file(dir, "two-chains", &h, sizeof(h), mem, VQ_MEM);
	/* The same with a one-page hole over the last data page. */
	h.hole_page = 5;
	h.hole_pages = 1;
	h.flags |= FUZZ_VQ_NO_EMPTY;
	if (!err)
		err = write_file(dir, "hole", &h, sizeof(h), mem, VQ_MEM);
	return err;
}

/*
 * fuzz_virtio: a virtio-blk read of two sectors (header, data, status),
 * the same request through an indirect table, and an rng request. The
 * handshake and queue setup come from the header.
 */
#define VIO_MEM		0x8000
#define VIO_HDR		0x5000
#define VIO_DATA	0x6000
#define VIO_STATUS	0x5010

static void vio_image(uint8_t *mem, bool indirect)
{
	memset(mem, 0, VIO_MEM);
	put32(mem + VIO_HDR, 0);		/* VIRTIO_BLK_T_IN */
	put64(mem + VIO_HDR + 8, 1);		/* sector 1 */
	if (indirect) {
		desc(mem, VQ_TABLE, 0, VIO_HDR, 16, 1, 1);
		desc(mem, VQ_TABLE, 1, VIO_DATA, 1024, 3, 2);
		desc(mem, VQ_TABLE, 2, VIO_STATUS, 1, 2, 0);
		desc(mem, VQ_DESC, 0, VQ_TABLE, 48, 4, 0);
	} else {
		desc(mem, VQ_DESC, 0, VIO_HDR, 16, 1, 1);
		desc(mem, VQ_DESC, 1, VIO_DATA, 1024, 3, 2);
		desc(mem, VQ_DESC, 2, VIO_STATUS, 1, 2, 0);
	}
	put16(mem + VQ_AVAIL + 2, 1);
}

static int virtio_seeds(const char *base)
{
	static uint8_t mem[VIO_MEM];
	struct fuzz_virtio_hdr h = {
		.device = FUZZ_VIO_BLK,
		.size_shift = VQ_SHIFT,
		.desc = VQ_DESC,
		.avail = VQ_AVAIL,
		.used = VQ_USED,
	};
	/* A status read and an interrupt acknowledge, as an IRQ handler. */
	struct fuzz_vio_op ops[2] = {
		{ .offset = 0x060, .len = 2 },
		{ .offset = 0x064, .len = 2 | FUZZ_VIO_WRITE, .value = 1 },
	};
	uint8_t hdr_ops[sizeof(h) + sizeof(ops)];
	char dir[4096];
	int err;

	err = make_dir(base, "fuzz_virtio", dir, sizeof(dir));
	if (err)
		return err;
	vio_image(mem, false);
	h.nr_ops = 2;
	memcpy(hdr_ops, &h, sizeof(h));
	memcpy(hdr_ops + sizeof(h), ops, sizeof(ops));
	err = write_file(dir, "blk-read", hdr_ops, sizeof(hdr_ops), mem,
			 VIO_MEM);
	h.device = FUZZ_VIO_BLK_RO;
	h.flags = FUZZ_VIO_INDIRECT;
	h.nr_ops = 0;
	vio_image(mem, true);
	put32(mem + VIO_HDR, 1);		/* VIRTIO_BLK_T_OUT: refused */
	if (!err)
		err = write_file(dir, "blk-ro-write", &h, sizeof(h), mem,
				 VIO_MEM);
	h.device = FUZZ_VIO_RNG;
	h.flags = 0;
	vio_image(mem, false);
	if (!err)
		err = write_file(dir, "rng", &h, sizeof(h), mem, VIO_MEM);
	return err;
}

static int snapshot_seeds(const char *base)
{
	static const uint8_t regs[512] = { 0x48, 0x89 };
	struct snap_builder b;
	char dir[4096], path[4096 + 16];
	int err;

	err = make_dir(base, "fuzz_snapshot", dir, sizeof(dir));
	if (err)
		return err;
	snap_builder_init(&b);
	err = snap_add_section(&b, SNAP_TAG('V', 'C', 'P', 'U'), 0, regs, sizeof(regs)) ?:
	      snap_add_section(&b, SNAP_TAG('V', 'C', 'P', 'U'), 1, regs, 100) ?:
	      snap_add_section(&b, SNAP_TAG('P', 'I', 'T', ' '), 0, NULL, 0);
	snprintf(path, sizeof(path), "%s/three-sections", dir);
	if (!err)
		err = snap_write_file(&b, path);
	snap_builder_free(&b);
	return err;
}

/*
 * fuzz_device_state: a UART with two bytes received, and blk and rng
 * transports with a live queue 0 over the fuzz_virtio request images.
 */
#define F_SEG_MAX	(1ULL << 2)
#define F_FLUSH		(1ULL << 9)
#define F_INDIRECT	(1ULL << 28)
#define F_VERSION_1	(1ULL << 32)

static size_t transport_section(uint8_t *buf, size_t cap, uint32_t id,
				uint64_t features)
{
	struct snap_writer w;
	unsigned int i;

	snap_writer_init(&w, buf, cap);
	snap_put_u32(&w, id);
	snap_put_u64(&w, features | F_VERSION_1 | F_INDIRECT);
	snap_put_u64(&w, F_VERSION_1 | F_INDIRECT);
	for (i = 0; i < 3; i++)			/* selectors */
		snap_put_u32(&w, 0);
	snap_put_u32(&w, 0xf);			/* status: DRIVER_OK */
	snap_put_u32(&w, 0);			/* interrupt status */
	snap_put_u8(&w, 0);			/* flags */
	snap_put_u8(&w, 1);			/* queues */
	snap_put_u32(&w, 1U << VQ_SHIFT);
	snap_put_u8(&w, 1);
	snap_put_u64(&w, VQ_DESC);
	snap_put_u64(&w, VQ_AVAIL);
	snap_put_u64(&w, VQ_USED);
	snap_put_u16(&w, 0);
	snap_put_u16(&w, 0);
	return w.len;
}

static int state_seed(const char *dir, const char *name, uint8_t device,
		      const uint8_t *payload, size_t len, const uint8_t *mem,
		      size_t mem_len)
{
	uint8_t buf[sizeof(struct fuzz_state_hdr) + 128];
	struct fuzz_state_hdr h = { .device = device, .payload_len = len };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, len);
	return write_file(dir, name, buf, sizeof(h) + len, mem, mem_len);
}

static int device_state_seeds(const char *base)
{
	static const uint8_t uart[] = { 0x01, 0x03, 0x0b, 0x01, 0, 12, 0, 0x01,
					2, 0, 'h', 'i' };
	static uint8_t mem[VIO_MEM];
	uint8_t sec[128];
	char dir[4096];
	size_t len;
	int err;

	err = make_dir(base, "fuzz_device_state", dir, sizeof(dir));
	if (!err)
		err = state_seed(dir, "uart", FUZZ_DEV_SERIAL, uart,
				 sizeof(uart), NULL, 0);
	vio_image(mem, false);
	len = transport_section(sec, sizeof(sec), 2, F_SEG_MAX | F_FLUSH);
	if (!err)
		err = state_seed(dir, "blk", FUZZ_DEV_BLK, sec, len, mem,
				 VIO_MEM);
	len = transport_section(sec, sizeof(sec), 4, 0);
	if (!err)
		err = state_seed(dir, "rng", FUZZ_DEV_RNG, sec, len, mem,
				 VIO_MEM);
	return err;
}

/* An EXEC frame of "sh -c true" in /tmp with one variable, a PUT, a
 * RESTORED (1700000000 s, a seed of 0x5a bytes), and an agent's HELLO
 * (revision 1) followed by a WINSIZE of 40 rows, 120 columns. */
static int agent_protocol_seeds(const char *base)
{
	static const uint8_t exec_frame[] = {
		51, 0, 0, 0, 1, 0x10, 0, 0, 1, 0, 0, 0,
		0, 0, 0, 0, 80, 0, 24, 0,
		4, 0, 0, 0, '/', 't', 'm', 'p',
		3, 0, 0, 0, 2, 0, 0, 0, 's', 'h', 2, 0, 0, 0, '-', 'c',
		4, 0, 0, 0, 't', 'r', 'u', 'e',
		1, 0, 0, 0, 3, 0, 0, 0, 'A', '=', '1',
	};
	static const uint8_t put_frame[] = {
		14, 0, 0, 0, 1, 0x11, 0, 0, 2, 0, 0, 0,
		0xa4, 1, 0, 0, 6, 0, 0, 0, '/', 't', 'm', 'p', '/', 'x',
	};
	uint8_t restored_frame[PROTO_HDR_SIZE + PROTO_RESTORED_SIZE] = {
		PROTO_RESTORED_SIZE, 0, 0, 0, 1, 0x16, 0, 0, 3, 0, 0, 0,
		0, 0xf1, 0x53, 0x65, 0, 0, 0, 0, 0, 0, 0, 0,
		PROTO_SEED_SIZE, 0, 0, 0,
	};
	static const uint8_t hello_winsize_frames[] = {
		8, 0, 0, 0, 1, 0x01, 0, 0, 0, 0, 0, 0,
		0x41, 0x47, 0x42, 0x58, 1, 0, 0, 0,
		4, 0, 0, 0, 1, 0x2c, 0, 0, 1, 0, 0, 0,
		120, 0, 40, 0,
	};
	char dir[4096];
	int err;

	memset(restored_frame + PROTO_HDR_SIZE + 16, 0x5a, PROTO_SEED_SIZE);
	err = make_dir(base, "fuzz_agent_protocol", dir, sizeof(dir));
	if (!err)
		err = write_file(dir, "exec", exec_frame, sizeof(exec_frame), NULL, 0);
	if (!err)
		err = write_file(dir, "put", put_frame, sizeof(put_frame), NULL, 0);
	if (!err)
		err = write_file(dir, "restored", restored_frame, sizeof(restored_frame),
				 NULL, 0);
	if (!err)
		err = write_file(dir, "hello-winsize", hello_winsize_frames,
				 sizeof(hello_winsize_frames), NULL, 0);
	return err;
}

int main(int argc, char **argv)
{
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS-DIR\n");
		return 2;
	}
	err = kernel_seeds(argv[1]);
	if (!err)
		err = virtq_seeds(argv[1]);
	if (!err)
		err = virtio_seeds(argv[1]);
	if (!err)
		err = snapshot_seeds(argv[1]);
	if (!err)
		err = agent_protocol_seeds(argv[1]);
	if (!err)
		err = device_state_seeds(argv[1]);
	if (err) {
		fprintf(stderr, "mkseeds: %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	return 0;
}
