#include <errno.h>
#include <string.h>

#include "guest_mem.h"

/* Enough for the widest ring field; holes are page-granular anyway. */
#define GM_BASE_ALIGN	16
#define GM_HOLE_ALIGN	4096

int guest_mem_init(struct guest_mem *gm, void *base, uint64_t size,
		   uint64_t hole_start, uint64_t hole_end)
{
	uint64_t high;

	if (!base || !size || hole_end < hole_start)
		return -EINVAL;
	/*
	 * Rings are accessed through typed pointers, so a guest-aligned
	 * address must stay host-aligned on both sides of the hole.
	 */
	if ((uintptr_t)base % GM_BASE_ALIGN || hole_start % GM_HOLE_ALIGN ||
	    hole_end % GM_HOLE_ALIGN)
		return -EINVAL;
	high = size > hole_start ? size - hole_start : 0;
	/* The RAM moved above the hole must still be addressable. */
	if (high > UINT64_MAX - hole_end)
		return -EINVAL;
	gm->base = base;
	gm->size = size;
	gm->hole_start = hole_start;
	gm->hole_end = hole_end;
	return 0;
}

/* Written as subtractions so no gpa + len can wrap past 2^64. */
static bool range_within(uint64_t gpa, uint64_t len, uint64_t start,
			 uint64_t end)
{
	return gpa >= start && gpa < end && len <= end - gpa;
}

static uint64_t low_end(const struct guest_mem *gm)
{
	return gm->size < gm->hole_start ? gm->size : gm->hole_start;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t low = low_end(gm);
	uint64_t high = gm->size - low;

	if (range_within(gpa, len, 0, low))
		return gm->base + gpa;
	if (high && range_within(gpa, len, gm->hole_end, gm->hole_end + high))
		return gm->base + low + (gpa - gm->hole_end);
	return NULL;
}

bool gm_is_ram(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	return gm_ptr(gm, gpa, len) != NULL;
}

int gm_write(struct guest_mem *gm, uint64_t gpa, const void *src,
	     uint64_t len)
{
	void *dst = gm_ptr(gm, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
