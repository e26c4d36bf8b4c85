/*
 * Packing a section payload: little-endian fields written through a
 * cursor into a caller's buffer, and read back through one that refuses
 * to run past the end. A reader that ran short stays short (every later
 * get returns 0), so a restore reads all its fields and checks ok once.
 */
#ifndef AGENTBOX_SNAPSHOT_WIRE_H
#define AGENTBOX_SNAPSHOT_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "snapshot_file.h"

struct snap_writer {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool ok;
};

struct snap_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool ok;
};

static inline void snap_writer_init(struct snap_writer *w, void *buf,
				    size_t cap)
{
	*w = (struct snap_writer){ .p = buf, .cap = cap, .ok = true };
}

static inline void snap_put_bytes(struct snap_writer *w, const void *src,
				  size_t n)
{
	if (!w->ok || n > w->cap - w->len) {
		w->ok = false;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static inline void snap_put_le(struct snap_writer *w, uint64_t v,
			       unsigned int bytes)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	snap_put_bytes(w, b, bytes);
}

static inline void snap_put_u8(struct snap_writer *w, uint8_t v)
{
	snap_put_le(w, v, 1);
}

static inline void snap_put_u16(struct snap_writer *w, uint16_t v)
{
	snap_put_le(w, v, 2);
}

static inline void snap_put_u32(struct snap_writer *w, uint32_t v)
{
	snap_put_le(w, v, 4);
}

static inline void snap_put_u64(struct snap_writer *w, uint64_t v)
{
	snap_put_le(w, v, 8);
}

static inline void snap_reader_init(struct snap_reader *r, const void *buf,
				    size_t len)
{
	*r = (struct snap_reader){ .p = buf, .len = len, .ok = true };
}

static inline void snap_get_bytes(struct snap_reader *r, void *dst, size_t n)
{
	if (!r->ok || n > r->len - r->off) {
		r->ok = false;
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
}

static inline uint64_t snap_get_le(struct snap_reader *r, unsigned int bytes)
{
	uint8_t b[8];
	uint64_t v = 0;
	unsigned int i;

	snap_get_bytes(r, b, bytes);
	for (i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline uint8_t snap_get_u8(struct snap_reader *r)
{
	return (uint8_t)snap_get_le(r, 1);
}

static inline uint16_t snap_get_u16(struct snap_reader *r)
{
	return (uint16_t)snap_get_le(r, 2);
}

static inline uint32_t snap_get_u32(struct snap_reader *r)
{
	return (uint32_t)snap_get_le(r, 4);
}

static inline uint64_t snap_get_u64(struct snap_reader *r)
{
	return snap_get_le(r, 8);
}

/* The whole payload was read, no more and no less. */
static inline bool snap_reader_done(const struct snap_reader *r)
{
	return r->ok && r->off == r->len;
}

/* Add what w packed as a section; -E2BIG if it overran its buffer. */
static inline int snap_add_writer(struct snap_builder *b, uint32_t tag,
				  uint32_t instance,
				  const struct snap_writer *w)
{
	if (!w->ok)
		return -E2BIG;
	return snap_add_section(b, tag, instance, w->p, w->len);
}

/* Point r at a section's payload: false if the file has no such section. */
static inline bool snap_reader_find(struct snap_reader *r,
				    const struct snap_index *idx, uint32_t tag,
				    uint32_t instance)
{
	const struct snap_section *s = snap_find(idx, tag, instance);

	if (!s)
		return false;
	snap_reader_init(r, s->payload, s->len);
	return true;
}

#endif /* AGENTBOX_SNAPSHOT_WIRE_H */
