#include "power.h"

/* Only the low byte counts, whatever the width of the out instruction. */
static void power_write(void *dev, uint64_t offset, const uint8_t *data,
			unsigned int len)
{
	(void)offset;
	(void)len;
	stop_request(dev, STOP_POWEROFF, data[0]);
}

const struct bus_ops power_bus_ops = {
	.read = NULL,
	.write = power_write,
};
