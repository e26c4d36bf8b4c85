#ifndef AGENTBOX_GUEST_MEM_H
#define AGENTBOX_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Guest RAM as one host buffer of size bytes. Guest-physical addresses
 * [0, hole_start) map to the start of the buffer; whatever does not fit
 * below the hole continues at hole_end. The VMM passes the
 * LAYOUT_MMIO_HOLE_* values; tests use a small hole to exercise it.
 */
struct guest_mem {
	uint8_t *base;
	uint64_t size;
	uint64_t hole_start;
	uint64_t hole_end;
};

int guest_mem_init(struct guest_mem *gm, void *base, uint64_t size,
		   uint64_t hole_start, uint64_t hole_end);

/*
 * Host pointer for [gpa, gpa + len), or NULL unless the whole range is
 * RAM on one side of the hole. A zero-length range still needs gpa in RAM.
 */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

bool gm_is_ram(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

int gm_write(struct guest_mem *gm, uint64_t gpa, const void *src,
	     uint64_t len);

#endif /* AGENTBOX_GUEST_MEM_H */
