/*
 * A driver's view of a virtio-mmio window for the tests and fuzzers:
 * register offsets and status bits spelled out from the virtio 1.x spec
 * (not taken from the headers the device uses), and 32-bit register
 * access the way Linux's virtio_mmio driver makes it.
 */
#ifndef AGENTBOX_MMIO_HELPERS_H
#define AGENTBOX_MMIO_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "virtio_mmio.h"

#define MAGIC		0x000
#define VERSION		0x004
#define DEVICE_ID	0x008
#define VENDOR_ID	0x00c
#define DEV_FEAT	0x010
#define DEV_FEAT_SEL	0x014
#define DRV_FEAT	0x020
#define DRV_FEAT_SEL	0x024
#define QUEUE_SEL	0x030
#define QUEUE_NUM_MAX	0x034
#define QUEUE_NUM	0x038
#define QUEUE_READY	0x044
#define QUEUE_NOTIFY	0x050
#define INT_STATUS	0x060
#define INT_ACK		0x064
#define STATUS		0x070
#define DESC_LO		0x080
#define DESC_HI		0x084
#define AVAIL_LO	0x090
#define AVAIL_HI	0x094
#define USED_LO		0x0a0
#define USED_HI		0x0a4
#define SHM_LEN_LO	0x0b0
#define CONFIG_GEN	0x0fc
#define CONFIG		0x100

#define S_ACK		1
#define S_DRIVER	2
#define S_DRIVER_OK	4
#define S_FEATURES_OK	8
#define S_NEEDS_RESET	0x40

/* Split-ring descriptor flags. */
#define D_NEXT		1
#define D_WRITE		2
#define D_INDIRECT	4

static inline uint32_t mmio_rd(struct virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;

	virtio_mmio_bus_ops.read(t, off, (uint8_t *)&v, 4);
	return v;
}

static inline void mmio_wr(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(t, off, (const uint8_t *)&v, 4);
}

/* An interrupt line for a test that looks at the rings, not at interrupts. */
static inline int mmio_no_irq(void *ctx, unsigned int gsi, bool level)
{
	(void)ctx;
	(void)gsi;
	(void)level;
	return 0;
}

/*
 * Queue q's split ring at base, as the tests lay it out: descriptors at
 * base, the avail ring at base + 0x1000, the used ring at base + 0x2000.
 */
static inline void mmio_setup_queue(struct virtio_mmio *t, unsigned int q,
				    uint32_t num, uint32_t base)
{
	mmio_wr(t, QUEUE_SEL, q);
	mmio_wr(t, QUEUE_NUM, num);
	mmio_wr(t, DESC_LO, base);
	mmio_wr(t, AVAIL_LO, base + 0x1000);
	mmio_wr(t, USED_LO, base + 0x2000);
	mmio_wr(t, QUEUE_READY, 1);
}

/* Offer head in the avail ring at avail; *idx is the driver's avail index. */
static inline void ring_make_avail(uint8_t *avail, uint16_t *idx, uint32_t num,
				   uint16_t head)
{
	uint16_t next = *idx + 1;

	memcpy(avail + 4 + 2 * (*idx % num), &head, 2);
	memcpy(avail + 2, &next, 2);
	*idx = next;
}

#endif /* AGENTBOX_MMIO_HELPERS_H */
