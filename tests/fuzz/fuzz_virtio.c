/*
 * A guest driver that may do anything: fuzzer-chosen rings, requests and
 * register accesses against the virtio-mmio transport with virtio-blk
 * (on a memfd disk, writable or read-only) or virtio-rng behind it. The
 * VMM must neither crash nor touch memory outside guest RAM (ASan), and
 * a failed device must stay failed until reset.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fuzz_input.h"
#include "log.h"
#include "mmio_helpers.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_rng.h"

#define DISK_SECTORS	64
#define WINDOW		0x1000
#define S_READY		(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

static struct virtio_blk disks[2];
static bool disks_open;
static struct virtio_mmio t;

static void open_disk(struct virtio_blk *b, bool ro)
{
	char path[64], why[256];
	int fd = memfd_create("fuzz-disk", 0);

	if (fd < 0 || ftruncate(fd, DISK_SECTORS * 512))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (virtio_blk_open(b, path, ro, 0, why, sizeof(why)))
		abort();
}

static void wr(uint64_t off, uint32_t v)
{
	mmio_wr(&t, off, v);
}

static uint32_t rd(uint64_t off)
{
	return mmio_rd(&t, off);
}

static void handshake(const struct fuzz_virtio_hdr *h)
{
	uint64_t f = 1ULL << 32;

	if (h->flags & FUZZ_VIO_INDIRECT)
		f |= 1ULL << 28;
	wr(0x070, 0);
	wr(0x070, 3);
	wr(0x024, 1);
	wr(0x020, f >> 32);
	wr(0x024, 0);
	wr(0x020, (uint32_t)f);
	wr(0x070, 0xb);
	wr(0x030, 0);
	wr(0x038, 1U << (h->size_shift % 9));
	wr(0x080, h->desc);
	wr(0x090, h->avail);
	wr(0x0a0, h->used);
	wr(0x044, 1);
	wr(0x070, S_READY);
}

static void replay(const struct fuzz_vio_op *ops, unsigned int n)
{
	uint8_t data[8];
	unsigned int i, len;

	for (i = 0; i < n; i++) {
		len = 1U << (ops[i].len & 3);
		memset(data, 0, sizeof(data));
		memcpy(data, &ops[i].value, len < 4 ? len : 4);
		if (ops[i].len & FUZZ_VIO_WRITE)
			virtio_mmio_bus_ops.write(&t, ops[i].offset % WINDOW,
						  data, len);
		else
			virtio_mmio_bus_ops.read(&t, ops[i].offset % WINDOW,
						 data, len);
	}
}

static void attach(unsigned int device, const struct guest_mem *gm)
{
	struct irq_line irq = { .set = mmio_no_irq };

	if (device == FUZZ_VIO_RNG) {
		virtio_mmio_init(&t, &virtio_rng_ops, NULL, 0, gm, &irq, 0);
		return;
	}
	virtio_mmio_init(&t, &virtio_blk_ops, &disks[device],
			 virtio_blk_features(&disks[device]), gm, &irq, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_virtio_hdr h;
	struct guest_mem gm;
	size_t ops_len;
	void *mem;

	if (!disks_open) {
		/* A failed device says so; a million times is just noise. */
		log_set_fd(-1);
		open_disk(&disks[FUZZ_VIO_BLK], false);
		open_disk(&disks[FUZZ_VIO_BLK_RO], true);
		disks_open = true;
	}
	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	ops_len = h.nr_ops * sizeof(struct fuzz_vio_op);
	if (size - sizeof(h) <= ops_len)
		return 0;
	size -= sizeof(h) + ops_len;
	/* An exact-size copy, so ASan flags the first byte past guest RAM. */
	if (posix_memalign(&mem, 16, size))
		return 0;
	memcpy(mem, data + sizeof(h) + ops_len, size);
	if (guest_mem_init(&gm, mem, size, 0xc0000000, 0x100000000))
		goto free_mem;
	attach(h.device % FUZZ_VIO_DEVICES, &gm);
	handshake(&h);
	wr(0x050, 0);
	replay((const struct fuzz_vio_op *)(data + sizeof(h)), h.nr_ops);
	wr(0x050, 0);
	/* A failed device stays failed until the driver resets it. */
	if ((rd(0x070) & S_NEEDS_RESET) && !t.failed)
		__builtin_trap();
	virtio_mmio_destroy(&t);
free_mem:
	free(mem);
	return 0;
}
