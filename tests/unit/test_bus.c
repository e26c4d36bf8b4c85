/* Range dispatch on the PIO/MMIO buses, the exit port and struct stop. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "agentbox-abi.h"
#include "bus.h"
#include "check.h"
#include "power.h"
#include "stop.h"

#define SUITE	"bus"

/* A device that records its last access and answers with its offset. */
struct probe {
	uint64_t offset;
	unsigned int len;
	uint8_t written[BUS_MAX_ACCESS];
	unsigned int reads;
	unsigned int writes;
};

static void probe_read(void *dev, uint64_t offset, uint8_t *data,
		       unsigned int len)
{
	struct probe *p = dev;
	unsigned int i;

	p->offset = offset;
	p->len = len;
	p->reads++;
	for (i = 0; i < len; i++)
		data[i] = offset + i;
}

static void probe_write(void *dev, uint64_t offset, const uint8_t *data,
			unsigned int len)
{
	struct probe *p = dev;

	p->offset = offset;
	p->len = len;
	p->writes++;
	memcpy(p->written, data, len);
}

static const struct bus_ops probe_ops = {
	.read = probe_read,
	.write = probe_write,
};

static const struct bus_ops write_only_ops = {
	.write = probe_write,
};

static struct bus bus;

static void test_add(struct check *c)
{
	struct probe p;
	unsigned int i;

	bus_init(&bus);
	CHECK_INT(c, bus_add(&bus, 0x3f8, 8, &probe_ops, &p, "a"), 0);
	CHECK_INT(c, bus_add(&bus, 0x3f8, 1, &probe_ops, &p, "b"), -EEXIST);
	CHECK_INT(c, bus_add(&bus, 0x3f0, 9, &probe_ops, &p, "b"), -EEXIST);
	CHECK_INT(c, bus_add(&bus, 0x3ff, 2, &probe_ops, &p, "b"), -EEXIST);
	CHECK_INT(c, bus_add(&bus, 0x400, 0, &probe_ops, &p, "b"), -EINVAL);
	CHECK_INT(c, bus_add(&bus, UINT64_MAX, 2, &probe_ops, &p, "b"),
		  -EINVAL);
	CHECK_INT(c, bus_add(&bus, 0x3f0, 8, NULL, &p, "b"), -EINVAL);
	/* Touching ranges are fine. */
	CHECK_INT(c, bus_add(&bus, 0x3f0, 8, &probe_ops, &p, "b"), 0);
	CHECK_INT(c, bus_add(&bus, 0x400, 1, &probe_ops, &p, "c"), 0);
	for (i = bus.nr; i < BUS_MAX_RANGES; i++)
		CHECK_INT(c, bus_add(&bus, 0x1000 + i, 1, &probe_ops, &p, "x"),
			  0);
	CHECK_INT(c, bus_add(&bus, 0x2000, 1, &probe_ops, &p, "full"),
		  -ENOSPC);
}

static void test_dispatch(struct check *c)
{
	struct probe a = { 0 }, b = { 0 };
	uint8_t data[8] = { 0 }, in[4] = { 1, 2, 3, 4 };

	bus_init(&bus);
	bus_add(&bus, 0xd0001000, 0x1000, &probe_ops, &a, "a");
	bus_add(&bus, 0xd0002000, 0x1000, &probe_ops, &b, "b");
	CHECK(c, bus_read(&bus, 0xd0001070, data, 4));
	CHECK_U64(c, a.offset, 0x70);
	CHECK_INT(c, a.len, 4);
	CHECK_INT(c, data[0], 0x70);
	CHECK_INT(c, data[3], 0x73);
	CHECK(c, bus_write(&bus, 0xd0002ffc, in, 4));
	CHECK_U64(c, b.offset, 0xffc);
	CHECK_MEM(c, b.written, in, 4);
	CHECK_INT(c, a.writes, 0);
}

static void test_unhandled(struct check *c)
{
	struct probe a = { 0 };
	uint8_t data[8], ones[8];

	memset(ones, 0xff, sizeof(ones));
	bus_init(&bus);
	bus_add(&bus, 0x100, 0x10, &probe_ops, &a, "a");
	memset(data, 0, sizeof(data));
	CHECK(c, !bus_read(&bus, 0x80, data, 1));
	CHECK_INT(c, data[0], 0xff);
	/* Straddling the end of a device is no device's access. */
	CHECK(c, !bus_read(&bus, 0x10e, data, 4));
	CHECK_MEM(c, data, ones, 4);
	CHECK(c, !bus_write(&bus, 0x10e, data, 4));
	CHECK(c, !bus_read(&bus, 0x100, data, 0));
	CHECK(c, !bus_read(&bus, 0x100, data, 9));
	CHECK_INT(c, a.reads + a.writes, 0);
}

static void test_write_only_device(struct check *c)
{
	struct probe a = { 0 };
	uint8_t data = 0;

	bus_init(&bus);
	bus_add(&bus, EXIT_PORT, 1, &write_only_ops, &a, "w");
	CHECK(c, !bus_read(&bus, EXIT_PORT, &data, 1));
	CHECK_INT(c, data, 0xff);
	CHECK(c, bus_write(&bus, EXIT_PORT, &data, 1));
	CHECK_INT(c, a.writes, 1);
}

static bool efd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void test_stop_first_wins(struct check *c)
{
	struct stop s;
	int value = -1;

	if (!CHECK_INT(c, stop_init(&s), 0))
		return;
	CHECK(c, !stop_requested(&s));
	CHECK_INT(c, stop_reason(&s, &value), STOP_NONE);
	CHECK(c, !efd_readable(s.efd));
	CHECK(c, stop_request(&s, STOP_RESET, 0));
	CHECK(c, !stop_request(&s, STOP_POWEROFF, 3));
	CHECK(c, stop_requested(&s));
	CHECK_INT(c, stop_reason(&s, &value), STOP_RESET);
	CHECK(c, efd_readable(s.efd));
	stop_destroy(&s);
}

static void test_exit_port(struct check *c)
{
	uint8_t status[2] = { 42, 7 };
	struct stop s;
	int value = -1;

	if (!CHECK_INT(c, stop_init(&s), 0))
		return;
	bus_init(&bus);
	bus_add(&bus, EXIT_PORT, 1, &power_bus_ops, &s, "power");
	/* outw: only the low byte is the status. */
	CHECK(c, !bus_write(&bus, EXIT_PORT, status, 2));
	CHECK(c, bus_write(&bus, EXIT_PORT, status, 1));
	CHECK_INT(c, stop_reason(&s, &value), STOP_POWEROFF);
	CHECK_INT(c, value, 42);
	CHECK(c, efd_readable(s.efd));
	stop_destroy(&s);
}

int main(void)
{
	RUN(SUITE, test_add);
	RUN(SUITE, test_dispatch);
	RUN(SUITE, test_unhandled);
	RUN(SUITE, test_write_only_device);
	RUN(SUITE, test_stop_first_wins);
	RUN(SUITE, test_exit_port);
	return check_exit();
}
