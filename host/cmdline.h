#ifndef AGENTBOX_CMDLINE_H
#define AGENTBOX_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A kernel command line built in a caller-owned buffer. It is always
 * NUL-terminated, and a failed append leaves it exactly as it was, so a
 * caller can report -E2BIG and still print what was built.
 */
struct cmdline {
	char *buf;
	size_t size;
	size_t len;
};

int cmdline_init(struct cmdline *c, char *buf, size_t size);

/*
 * Append arg (one or more arguments) after a space; -E2BIG if it and the
 * NUL do not fit, -EINVAL if arg is empty.
 */
int cmdline_append(struct cmdline *c, const char *arg);

/* Append virtio_mmio.device=<size>@<addr>:<irq> for one device. */
int cmdline_add_virtio_mmio(struct cmdline *c, uint64_t size, uint64_t addr,
			    unsigned int irq);

#endif /* AGENTBOX_CMDLINE_H */
