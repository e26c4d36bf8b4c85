#include <errno.h>
#include <string.h>

#include "bus.h"

void bus_init(struct bus *b)
{
	memset(b, 0, sizeof(*b));
}

static bool overlaps(const struct bus_range *r, uint64_t base, uint64_t len)
{
	return base < r->base + r->len && r->base < base + len;
}

int bus_add(struct bus *b, uint64_t base, uint64_t len,
	    const struct bus_ops *ops, void *dev, const char *name)
{
	struct bus_range *r;
	unsigned int i;

	if (!len || base + len < base || !ops)
		return -EINVAL;
	for (i = 0; i < b->nr; i++)
		if (overlaps(&b->range[i], base, len))
			return -EEXIST;
	if (b->nr == BUS_MAX_RANGES)
		return -ENOSPC;
	r = &b->range[b->nr++];
	r->base = base;
	r->len = len;
	r->ops = ops;
	r->dev = dev;
	r->name = name;
	return 0;
}

/* The range that holds all of [addr, addr + len), or NULL. */
static const struct bus_range *find(const struct bus *b, uint64_t addr,
				    unsigned int len)
{
	const struct bus_range *r;
	unsigned int i;

	for (i = 0; i < b->nr; i++) {
		r = &b->range[i];
		if (addr >= r->base && addr - r->base < r->len &&
		    len <= r->len - (addr - r->base))
			return r;
	}
	return NULL;
}

bool bus_read(const struct bus *b, uint64_t addr, uint8_t *data,
	      unsigned int len)
{
	const struct bus_range *r;

	if (!len || len > BUS_MAX_ACCESS)
		return false;
	r = find(b, addr, len);
	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		return false;
	}
	memset(data, 0, len);
	r->ops->read(r->dev, addr - r->base, data, len);
	return true;
}

bool bus_write(const struct bus *b, uint64_t addr, const uint8_t *data,
	       unsigned int len)
{
	const struct bus_range *r;

	if (!len || len > BUS_MAX_ACCESS)
		return false;
	r = find(b, addr, len);
	if (!r || !r->ops->write)
		return false;
	r->ops->write(r->dev, addr - r->base, data, len);
	return true;
}
