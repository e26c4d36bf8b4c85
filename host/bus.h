/*
 * Address-range dispatch for port I/O and MMIO exits. Ranges are added
 * before the vCPUs start and never change afterwards, so lookups from
 * several vCPU threads need no lock; each device locks its own state.
 */
#ifndef AGENTBOX_BUS_H
#define AGENTBOX_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* PIO devices plus one MMIO window per virtio device and the boot timer. */
#define BUS_MAX_RANGES	32
/* The widest access a KVM exit carries (kvm_run.mmio.data). */
#define BUS_MAX_ACCESS	8

/*
 * A device sees offsets from its base. read must fill all len bytes;
 * data arrives zeroed so a device that ignores a register returns 0.
 */
struct bus_ops {
	void (*read)(void *dev, uint64_t offset, uint8_t *data,
		     unsigned int len);
	void (*write)(void *dev, uint64_t offset, const uint8_t *data,
		      unsigned int len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
	const char *name;
};

struct bus {
	struct bus_range range[BUS_MAX_RANGES];
	unsigned int nr;
};

void bus_init(struct bus *b);

/*
 * -EINVAL for an empty or wrapping range, -EEXIST if it overlaps one
 * already added, -ENOSPC when the table is full.
 */
int bus_add(struct bus *b, uint64_t base, uint64_t len,
	    const struct bus_ops *ops, void *dev, const char *name);

/*
 * Dispatch one access of len (1..BUS_MAX_ACCESS) bytes. An access no
 * device wholly covers reads as all ones, like an empty ISA bus, and
 * returns false.
 */
bool bus_read(const struct bus *b, uint64_t addr, uint8_t *data,
	      unsigned int len);
bool bus_write(const struct bus *b, uint64_t addr, const uint8_t *data,
	       unsigned int len);

#endif /* AGENTBOX_BUS_H */
