/*
 * A snapshot that may say anything about a device: the section is
 * fuzzer-chosen and only its CRC is right, as a bug or a hostile file
 * would have it. A restore must refuse what it cannot handle, saying
 * why, and what it accepts must be safe to run: the UART's registers
 * read, and a restored virtio queue served against the guest memory in
 * the input (ASan flags a byte outside it). A device that is failed
 * must also say so in its status.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "console.h"
#include "fuzz_input.h"
#include "log.h"
#include "mmio_helpers.h"
#include "serial.h"
#include "snapshot.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_rng.h"

#define DISK_SECTORS	64

static struct snap_index idx;
static struct virtio_blk disk;
static bool disk_open;
static struct console con;
static struct serial uart;
static struct virtio_mmio t;
/* A line with no setter goes nowhere (irq_line_set()). */
static const struct irq_line irq;

static void open_disk(void)
{
	char path[64], why[256];
	int fd = memfd_create("fuzz-disk", 0);

	if (fd < 0 || ftruncate(fd, DISK_SECTORS * 512))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (virtio_blk_open(&disk, path, false, 0, why, sizeof(why)))
		abort();
}

/* A state file of the one section, indexed; false if it cannot be. */
static bool index_section(struct snap_builder *b, uint32_t tag,
			  const uint8_t *p, size_t len)
{
	char why[256];

	snap_builder_init(b);
	return !snap_add_section(b, tag, 0, p, len) && !snap_seal(b) &&
	       !snap_parse(b->data, b->len, &idx, why, sizeof(why));
}

static void run_serial(const uint8_t *p, size_t len)
{
	struct snap_builder b;
	char why[256] = "";
	unsigned int i;
	uint8_t v;

	if (!index_section(&b, SNAP_SEC_SERIAL, p, len))
		goto out;
	if (console_init(&con, -1) || serial_init(&uart, &con, &irq))
		abort();
	if (serial_restore(&uart, &idx, why, sizeof(why)) && !why[0])
		__builtin_trap();
	for (i = 0; i < 2 * SERIAL_NR_PORTS; i++)
		serial_bus_ops.read(&uart, i % SERIAL_NR_PORTS, &v, 1);
	serial_destroy(&uart);
	console_destroy(&con);
out:
	snap_builder_free(&b);
}

/* Every queue served twice, with an interrupt acknowledged between. */
static void drive(void)
{
	unsigned int q;

	for (q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		mmio_wr(&t, QUEUE_NOTIFY, q);
	mmio_wr(&t, INT_ACK, mmio_rd(&t, INT_STATUS));
	for (q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		mmio_wr(&t, QUEUE_NOTIFY, q);
	if ((mmio_rd(&t, STATUS) & S_NEEDS_RESET) !=
	    (t.failed ? S_NEEDS_RESET : 0))
		__builtin_trap();
}

static void run_virtio(unsigned int device, const uint8_t *p, size_t len,
		       const struct guest_mem *gm)
{
	struct snap_builder b;
	char why[256] = "";

	if (!index_section(&b, SNAP_SEC_VIRTIO_MMIO, p, len))
		goto out;
	if (device == FUZZ_DEV_RNG)
		virtio_mmio_init(&t, &virtio_rng_ops, NULL, 0, gm, &irq, 0);
	else
		virtio_mmio_init(&t, &virtio_blk_ops, &disk,
				 virtio_blk_features(&disk), gm, &irq, 0);
	if (!virtio_mmio_restore(&t, 0, &idx, why, sizeof(why)))
		drive();
	else if (!why[0])
		__builtin_trap();
	virtio_mmio_destroy(&t);
out:
	snap_builder_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state_hdr h;
	struct guest_mem gm;
	void *mem;

	if (!disk_open) {
		log_set_fd(-1);
		open_disk();
		disk_open = true;
	}
	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	if (h.payload_len > size)
		return 0;
	if (h.device % FUZZ_DEV_DEVICES == FUZZ_DEV_SERIAL) {
		run_serial(data, h.payload_len);
		return 0;
	}
	size -= h.payload_len;
	/* An exact-size copy, so ASan flags the first byte past guest RAM. */
	if (!size || posix_memalign(&mem, 16, size))
		return 0;
	memcpy(mem, data + h.payload_len, size);
	if (!guest_mem_init(&gm, mem, size, 0xc0000000, 0x100000000))
		run_virtio(h.device % FUZZ_DEV_DEVICES, data, h.payload_len,
			   &gm);
	free(mem);
	return 0;
}
