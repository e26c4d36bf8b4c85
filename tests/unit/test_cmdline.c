#include <errno.h>
#include <string.h>

#include "check.h"
#include "cmdline.h"
#include "layout.h"

#define SUITE	"cmdline"

static void test_build(struct check *c)
{
	char buf[256];
	struct cmdline cl;

	if (!CHECK_INT(c, cmdline_init(&cl, buf, sizeof(buf)), 0))
		return;
	CHECK_STR(c, buf, "");
	CHECK_INT(c, cmdline_append(&cl, "console=ttyS0 reboot=t"), 0);
	CHECK_INT(c, cmdline_append(&cl, "panic=-1"), 0);
	CHECK_INT(c, cmdline_append(&cl, "acpi=off"), 0);
	CHECK_INT(c, cmdline_add_virtio_mmio(&cl, layout_virtio_mmio_addr(1) -
					     layout_virtio_mmio_addr(0),
					     layout_virtio_mmio_addr(0),
					     layout_virtio_irq(0)), 0);
	CHECK_INT(c, cmdline_add_virtio_mmio(&cl, 0x1000,
					     layout_virtio_mmio_addr(1),
					     layout_virtio_irq(1)), 0);
	CHECK_STR(c, buf, "console=ttyS0 reboot=t panic=-1 acpi=off "
		  "virtio_mmio.device=0x1000@0xd0001000:5 "
		  "virtio_mmio.device=0x1000@0xd0002000:6");
	CHECK_U64(c, cl.len, strlen(buf));
}

static void test_exact_fit(struct check *c)
{
	char buf[9];
	struct cmdline cl;

	cmdline_init(&cl, buf, sizeof(buf));
	CHECK_INT(c, cmdline_append(&cl, "abc"), 0);
	/* "abc defg" is 8 characters plus the NUL: exactly 9. */
	CHECK_INT(c, cmdline_append(&cl, "defg"), 0);
	CHECK_STR(c, buf, "abc defg");
	CHECK_INT(c, cmdline_append(&cl, "x"), -E2BIG);
	CHECK_STR(c, buf, "abc defg");
}

static void test_overflow_unchanged(struct check *c)
{
	char buf[8];
	struct cmdline cl;

	cmdline_init(&cl, buf, sizeof(buf));
	CHECK_INT(c, cmdline_append(&cl, "abc"), 0);
	CHECK_INT(c, cmdline_append(&cl, "defg"), -E2BIG);
	CHECK_STR(c, buf, "abc");
	CHECK_U64(c, cl.len, 3);
	CHECK_INT(c, cmdline_append(&cl, "def"), 0);
	CHECK_STR(c, buf, "abc def");
	CHECK_INT(c, cmdline_add_virtio_mmio(&cl, 0x1000, 0xd0000000, 5),
		  -E2BIG);
	CHECK_STR(c, buf, "abc def");
}

static void test_first_arg_no_space(struct check *c)
{
	char buf[4];
	struct cmdline cl;

	cmdline_init(&cl, buf, sizeof(buf));
	CHECK_INT(c, cmdline_append(&cl, "abcd"), -E2BIG);
	CHECK_INT(c, cmdline_append(&cl, "abc"), 0);
	CHECK_STR(c, buf, "abc");
	CHECK_INT(c, cmdline_append(&cl, ""), -EINVAL);
}

static void test_invalid(struct check *c)
{
	char buf[64];
	struct cmdline cl;

	CHECK_INT(c, cmdline_init(&cl, buf, 0), -EINVAL);
	cmdline_init(&cl, buf, sizeof(buf));
	CHECK_INT(c, cmdline_add_virtio_mmio(&cl, 0, 0xd0000000, 5), -EINVAL);
	CHECK_INT(c, cmdline_add_virtio_mmio(&cl, UINT64_MAX, UINT64_MAX,
					     ~0U), -E2BIG);
}

static void test_layout_devices(struct check *c)
{
	unsigned int last = LAYOUT_VIRTIO_MAX_DEVICES - 1;

	CHECK_U64(c, LAYOUT_VIRTIO_MAX_DEVICES, 19);
	CHECK_U64(c, layout_virtio_irq(last), 23);
	CHECK_U64(c, layout_virtio_mmio_addr(last), 0xd0013000);
}

int main(void)
{
	RUN(SUITE, test_build);
	RUN(SUITE, test_exact_fit);
	RUN(SUITE, test_overflow_unchanged);
	RUN(SUITE, test_first_arg_no_space);
	RUN(SUITE, test_invalid);
	RUN(SUITE, test_layout_devices);
	return check_exit();
}
