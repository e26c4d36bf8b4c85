/* Input formats of the fuzz targets, shared with the seed generator. */
#ifndef AGENTBOX_FUZZ_INPUT_H
#define AGENTBOX_FUZZ_INPUT_H

#include <stdint.h>

#include "compiler.h"

/*
 * fuzz_virtq: this header, then the guest memory image (its length is the
 * guest RAM size). The hole is given in 4 KiB pages so the fuzzer can put
 * it anywhere, including over the rings.
 */
#define FUZZ_VQ_INDIRECT	(1U << 0)
#define FUZZ_VQ_NO_EMPTY	(1U << 1)

struct fuzz_virtq_hdr {
	uint8_t size_shift;	/* queue size is 1 << (size_shift % 9) */
	uint8_t flags;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t hole_page;
	uint16_t hole_pages;
	uint16_t reserved;
	uint32_t desc;
	uint32_t avail;
	uint32_t used;
} __packed;

_Static_assert(sizeof(struct fuzz_virtq_hdr) == 24, "fuzz_virtq header");

/*
 * fuzz_kernel: one selector byte, then the kernel image. Selector bit 7
 * set: RAM is ((sel & 0x7f) + 1) * 256 MiB and only the pure builders run.
 * Clear: RAM is 1 MiB + sel * 256 KiB, really allocated, and the image is
 * loaded and all boot structures written into it.
 */
#define FUZZ_KERNEL_BIG		0x80U
#define FUZZ_KERNEL_BIG_UNIT	(256ULL << 20)
#define FUZZ_KERNEL_SMALL_BASE	(1ULL << 20)
#define FUZZ_KERNEL_SMALL_UNIT	(256ULL << 10)

/*
 * fuzz_virtio: this header, nr_ops register accesses, then the guest
 * memory image. The target runs Linux's handshake (with the features in
 * flags) and queue setup from the header, notifies queue 0, replays the
 * accesses against the device window, and notifies again.
 */
#define FUZZ_VIO_BLK		0
#define FUZZ_VIO_BLK_RO		1
#define FUZZ_VIO_RNG		2
#define FUZZ_VIO_DEVICES	3
#define FUZZ_VIO_INDIRECT	(1U << 0)
#define FUZZ_VIO_WRITE		0x80U	/* in fuzz_vio_op.len */

struct fuzz_virtio_hdr {
	uint8_t device;		/* % FUZZ_VIO_DEVICES */
	uint8_t flags;
	uint8_t size_shift;	/* queue size is 1 << (size_shift % 9) */
	uint8_t nr_ops;
	uint32_t desc;
	uint32_t avail;
	uint32_t used;
} __packed;

struct fuzz_vio_op {
	uint16_t offset;	/* into the 4 KiB window */
	uint8_t len;		/* 1, 2, 4 or 8 in bits 3:0, FUZZ_VIO_WRITE */
	uint8_t reserved;
	uint32_t value;
} __packed;

_Static_assert(sizeof(struct fuzz_virtio_hdr) == 16, "fuzz_virtio header");
_Static_assert(sizeof(struct fuzz_vio_op) == 8, "fuzz_virtio op");

/*
 * fuzz_device_state: this header, payload_len bytes of one device's
 * snapshot section, then the guest memory image. The target restores the
 * section into a fresh device on that memory and, if it is accepted,
 * drives the device: a restored queue must be as safe to serve as one
 * the driver set up.
 */
#define FUZZ_DEV_SERIAL		0
#define FUZZ_DEV_BLK		1
#define FUZZ_DEV_RNG		2
#define FUZZ_DEV_DEVICES	3

struct fuzz_state_hdr {
	uint8_t device;		/* % FUZZ_DEV_DEVICES */
	uint8_t reserved;
	uint16_t payload_len;
} __packed;

_Static_assert(sizeof(struct fuzz_state_hdr) == 4, "fuzz_device_state header");

#endif /* AGENTBOX_FUZZ_INPUT_H */
