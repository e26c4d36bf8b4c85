#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "guest_mem.h"

#define SUITE	"guest_mem"

/* 20 KiB of RAM around a 4 KiB hole: [0, 8K) and [12K, 24K). */
#define MEM_SIZE	0x5000
#define HOLE_START	0x2000
#define HOLE_END	0x3000

static _Alignas(4096) uint8_t buf[MEM_SIZE];

static void test_init_rejects(struct check *c)
{
	struct guest_mem gm;

	CHECK_INT(c, guest_mem_init(&gm, NULL, MEM_SIZE, HOLE_START, HOLE_END),
		  -EINVAL);
	CHECK_INT(c, guest_mem_init(&gm, buf, 0, HOLE_START, HOLE_END),
		  -EINVAL);
	CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_END, HOLE_START),
		  -EINVAL);
	CHECK_INT(c, guest_mem_init(&gm, buf + 1, MEM_SIZE - 1, HOLE_START,
				    HOLE_END), -EINVAL);
	CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START + 1,
				    HOLE_END), -EINVAL);
	/* RAM above the hole would run past 2^64. */
	CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START,
				    0xfffffffffffff000ULL), -EINVAL);
}

static void test_low_ram(struct check *c)
{
	struct guest_mem gm;

	if (!CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START,
					 HOLE_END), 0))
		return;
	CHECK(c, gm_ptr(&gm, 0, HOLE_START) == buf);
	CHECK(c, gm_ptr(&gm, 0x1fff, 1) == buf + 0x1fff);
	CHECK(c, gm_ptr(&gm, 0x10, 0) == buf + 0x10);
	CHECK(c, gm_ptr(&gm, 0x1fff, 2) == NULL);
	CHECK(c, gm_ptr(&gm, 0, HOLE_START + 1) == NULL);
}

static void test_hole(struct check *c)
{
	struct guest_mem gm;

	if (!CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START,
					 HOLE_END), 0))
		return;
	CHECK(c, gm_ptr(&gm, HOLE_START, 1) == NULL);
	CHECK(c, gm_ptr(&gm, HOLE_START, 0) == NULL);
	CHECK(c, gm_ptr(&gm, HOLE_END - 1, 1) == NULL);
	CHECK(c, gm_ptr(&gm, HOLE_START - 1, 0x1002) == NULL);
	CHECK(c, !gm_is_ram(&gm, 0x2800, 4));
}

static void test_high_ram(struct check *c)
{
	struct guest_mem gm;

	if (!CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START,
					 HOLE_END), 0))
		return;
	/* 12 KiB of RAM did not fit below the hole and sits above it. */
	CHECK(c, gm_ptr(&gm, HOLE_END, 1) == buf + HOLE_START);
	CHECK(c, gm_ptr(&gm, HOLE_END, 0x3000) == buf + HOLE_START);
	CHECK(c, gm_ptr(&gm, 0x5fff, 1) == buf + 0x4fff);
	CHECK(c, gm_ptr(&gm, 0x6000, 0) == NULL);
	CHECK(c, gm_ptr(&gm, HOLE_END, 0x3001) == NULL);
	CHECK(c, gm_is_ram(&gm, 0x4000, 0x100));
}

static void test_overflow(struct check *c)
{
	struct guest_mem gm;

	if (!CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START,
					 HOLE_END), 0))
		return;
	CHECK(c, gm_ptr(&gm, 0x10, UINT64_MAX) == NULL);
	CHECK(c, gm_ptr(&gm, UINT64_MAX, 1) == NULL);
	CHECK(c, gm_ptr(&gm, UINT64_MAX - 0xf, 0x20) == NULL);
	CHECK(c, gm_ptr(&gm, HOLE_END + 0x10, UINT64_MAX - 0x8) == NULL);
}

static void test_no_hole(struct check *c)
{
	struct guest_mem gm;

	/* A guest smaller than the hole start never reaches it. */
	if (!CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, 0xc0000000ULL,
					 0x100000000ULL), 0))
		return;
	CHECK(c, gm_ptr(&gm, 0, MEM_SIZE) == buf);
	CHECK(c, gm_ptr(&gm, MEM_SIZE, 1) == NULL);
	CHECK(c, gm_ptr(&gm, 0x100000000ULL, 1) == NULL);
}

static void test_write(struct check *c)
{
	struct guest_mem gm;
	const uint8_t data[4] = { 1, 2, 3, 4 };

	if (!CHECK_INT(c, guest_mem_init(&gm, buf, MEM_SIZE, HOLE_START,
					 HOLE_END), 0))
		return;
	CHECK_INT(c, gm_write(&gm, HOLE_END, data, sizeof(data)), 0);
	CHECK_MEM(c, buf + HOLE_START, data, sizeof(data));
	CHECK_INT(c, gm_write(&gm, HOLE_START - 2, data, sizeof(data)),
		  -EFAULT);
}

int main(void)
{
	RUN(SUITE, test_init_rejects);
	RUN(SUITE, test_low_ram);
	RUN(SUITE, test_hole);
	RUN(SUITE, test_high_ram);
	RUN(SUITE, test_overflow);
	RUN(SUITE, test_no_hole);
	RUN(SUITE, test_write);
	return check_exit();
}
