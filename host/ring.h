/* A fixed-size byte FIFO. Not locked: its owner holds its own lock. */
#ifndef AGENTBOX_RING_H
#define AGENTBOX_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring {
	uint8_t *buf;
	size_t size;
	size_t head;	/* index of the oldest byte */
	size_t len;
};

void ring_init(struct ring *r, uint8_t *buf, size_t size);
/* Store as much of p as fits; returns how much that was. */
size_t ring_put(struct ring *r, const uint8_t *p, size_t n);
/* Take up to n of the oldest bytes; returns how many. */
size_t ring_get(struct ring *r, uint8_t *p, size_t n);
/* Copy up to n of the oldest bytes and leave them queued (a snapshot). */
size_t ring_peek(const struct ring *r, uint8_t *p, size_t n);
void ring_clear(struct ring *r);

static inline size_t ring_len(const struct ring *r)
{
	return r->len;
}

static inline size_t ring_space(const struct ring *r)
{
	return r->size - r->len;
}

static inline bool ring_empty(const struct ring *r)
{
	return r->len == 0;
}

#endif /* AGENTBOX_RING_H */
