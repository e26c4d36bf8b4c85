#include <string.h>

#include "ring.h"

void ring_init(struct ring *r, uint8_t *buf, size_t size)
{
	r->buf = buf;
	r->size = size;
	r->head = 0;
	r->len = 0;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* At most two copies: up to the end of the buffer, then from its start. */
size_t ring_put(struct ring *r, const uint8_t *p, size_t n)
{
	size_t tail, first, done;

	n = min_size(n, ring_space(r));
	done = n;
	while (n) {
		tail = (r->head + r->len) % r->size;
		first = min_size(n, r->size - tail);
		memcpy(r->buf + tail, p, first);
		r->len += first;
		p += first;
		n -= first;
	}
	return done;
}

size_t ring_peek(const struct ring *r, uint8_t *p, size_t n)
{
	size_t head = r->head, first, done;

	n = min_size(n, r->len);
	done = n;
	while (n) {
		first = min_size(n, r->size - head);
		memcpy(p, r->buf + head, first);
		head = (head + first) % r->size;
		p += first;
		n -= first;
	}
	return done;
}

size_t ring_get(struct ring *r, uint8_t *p, size_t n)
{
	n = ring_peek(r, p, n);
	r->head = (r->head + n) % r->size;
	r->len -= n;
	return n;
}

void ring_clear(struct ring *r)
{
	r->head = 0;
	r->len = 0;
}
