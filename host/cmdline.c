#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"

/* Enough for "virtio_mmio.device=0x<16>@0x<16>:<10>" with room to spare. */
#define VIRTIO_ARG_MAX	80

int cmdline_init(struct cmdline *c, char *buf, size_t size)
{
	if (!size)
		return -EINVAL;
	c->buf = buf;
	c->size = size;
	c->len = 0;
	buf[0] = '\0';
	return 0;
}

int cmdline_append(struct cmdline *c, const char *arg)
{
	size_t sep = c->len ? 1 : 0;
	size_t avail = c->size - c->len - 1;
	size_t n = strlen(arg);

	if (!n)
		return -EINVAL;
	if (n > avail || sep > avail - n)
		return -E2BIG;
	if (sep)
		c->buf[c->len++] = ' ';
	memcpy(c->buf + c->len, arg, n + 1);
	c->len += n;
	return 0;
}

int cmdline_add_virtio_mmio(struct cmdline *c, uint64_t size, uint64_t addr,
			    unsigned int irq)
{
	char arg[VIRTIO_ARG_MAX];
	int n;

	if (!size)
		return -EINVAL;
	n = snprintf(arg, sizeof(arg),
		     "virtio_mmio.device=0x%" PRIx64 "@0x%" PRIx64 ":%u",
		     size, addr, irq);
	if (n < 0 || (size_t)n >= sizeof(arg))
		return -EINVAL;
	return cmdline_append(c, arg);
}
