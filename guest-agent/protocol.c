/*
 * Codec for the agent protocol. Every read is bounds-checked against the
 * payload and every field against its documented limit, because the agent
 * decodes what any host process wrote and the host decodes what a guest
 * (possibly hostile) wrote. Integers are little-endian.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "protocol.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], const struct proto_hdr *h)
{
	put_le32(out, h->len);
	out[4] = h->version;
	out[5] = h->type;
	out[6] = h->flags;
	out[7] = h->flags >> 8;
	put_le32(out + 8, h->channel);
}

bool proto_type_known(unsigned int type)
{
	return type == P_HELLO || (type >= P_EXEC && type <= P_RESTORED) ||
	       (type >= P_DATA_IN && type <= P_WINSIZE);
}

/* -EPROTO for a bad version, -EMSGSIZE for a payload over the limit,
 * -EBADMSG for an unknown type or nonzero flags. */
int proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], struct proto_hdr *h)
{
	h->len = get_le32(in);
	h->version = in[4];
	h->type = in[5];
	h->flags = in[6] | in[7] << 8;
	h->channel = get_le32(in + 8);
	if (h->version != PROTO_VERSION)
		return -EPROTO;
	if (h->len > PROTO_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (!proto_type_known(h->type) || h->flags)
		return -EBADMSG;
	return 0;
}

void proto_put_bytes(struct proto_buf *b, const void *data, size_t len)
{
	if (b->bad || len > b->cap - b->len) {
		b->bad = true;
		return;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void proto_put_u32(struct proto_buf *b, uint32_t v)
{
	uint8_t le[4];

	put_le32(le, v);
	proto_put_bytes(b, le, 4);
}

void proto_put_u64(struct proto_buf *b, uint64_t v)
{
	proto_put_u32(b, (uint32_t)v);
	proto_put_u32(b, (uint32_t)(v >> 32));
}

void proto_put_str(struct proto_buf *b, const char *s)
{
	size_t len = strlen(s);

	if (len > PROTO_STR_MAX) {
		b->bad = true;
		return;
	}
	proto_put_u32(b, len);
	proto_put_bytes(b, s, len);
}

uint32_t proto_get_u32(struct proto_cursor *c)
{
	uint32_t v;

	if (c->bad || c->len - c->off < 4) {
		c->bad = true;
		return 0;
	}
	v = get_le32(c->p + c->off);
	c->off += 4;
	return v;
}

uint64_t proto_get_u64(struct proto_cursor *c)
{
	uint64_t lo = proto_get_u32(c);

	return lo | (uint64_t)proto_get_u32(c) << 32;
}

/* A string of at most PROTO_STR_MAX bytes, no NULs, into OUT[CAP]. */
int proto_get_str(struct proto_cursor *c, char *out, size_t cap)
{
	uint32_t len = proto_get_u32(c);

	if (c->bad || len > PROTO_STR_MAX || len >= cap || len > c->len - c->off ||
	    memchr(c->p + c->off, '\0', len)) {
		c->bad = true;
		return -EBADMSG;
	}
	memcpy(out, c->p + c->off, len);
	out[len] = '\0';
	c->off += len;
	return 0;
}

bool proto_cursor_done(const struct proto_cursor *c)
{
	return !c->bad && c->off == c->len;
}

static size_t count(char *const v[])
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

int proto_exec_encode(struct proto_buf *b, uint32_t flags, uint16_t rows,
		      uint16_t cols, const char *cwd, char *const argv[],
		      char *const envp[])
{
	size_t argc = count(argv), envc = count(envp), i;

	if (argc == 0 || argc > PROTO_ARGS_MAX || envc > PROTO_ARGS_MAX)
		return -E2BIG;
	proto_put_u32(b, flags);
	proto_put_u32(b, (uint32_t)rows << 16 | cols);
	proto_put_str(b, cwd ? cwd : "");
	proto_put_u32(b, argc);
	for (i = 0; i < argc; i++)
		proto_put_str(b, argv[i]);
	proto_put_u32(b, envc);
	for (i = 0; i < envc; i++)
		proto_put_str(b, envp[i]);
	return b->bad ? -E2BIG : 0;
}

/* Strings are copied one after another into e->strings, which is sized so
 * that a payload under the limit always fits. */
static char *take_str(struct proto_cursor *c, struct proto_exec *e, size_t *used)
{
	char *s = e->strings + *used;

	if (proto_get_str(c, s, sizeof(e->strings) - *used))
		return NULL;
	*used += strlen(s) + 1;
	return s;
}

static int take_list(struct proto_cursor *c, struct proto_exec *e, size_t *used,
		     char **list, uint32_t *n)
{
	uint32_t i;

	*n = proto_get_u32(c);
	if (c->bad || *n > PROTO_ARGS_MAX)
		return -EBADMSG;
	for (i = 0; i < *n; i++) {
		list[i] = take_str(c, e, used);
		if (!list[i])
			return -EBADMSG;
	}
	list[*n] = NULL;
	return 0;
}

int proto_exec_decode(const uint8_t *p, size_t len, struct proto_exec *e)
{
	struct proto_cursor c = { .p = p, .len = len };
	size_t used = 0;
	uint32_t size;

	if (len > PROTO_PAYLOAD_MAX)
		return -EMSGSIZE;
	e->flags = proto_get_u32(&c);
	size = proto_get_u32(&c);
	e->rows = size >> 16;
	e->cols = size & 0xffff;
	if (c.bad || (e->flags & ~PROTO_EXEC_TTY))
		return -EBADMSG;
	e->cwd = take_str(&c, e, &used);
	if (!e->cwd || take_list(&c, e, &used, e->argv, &e->argc) ||
	    take_list(&c, e, &used, e->envp, &e->envc))
		return -EBADMSG;
	if (e->argc == 0 || !proto_cursor_done(&c))
		return -EBADMSG;
	return 0;
}

int proto_path_decode(const uint8_t *p, size_t len, uint32_t *mode,
		      bool with_mode, char *path, size_t cap)
{
	struct proto_cursor c = { .p = p, .len = len };

	if (with_mode) {
		*mode = proto_get_u32(&c);
		if (*mode & ~07777u)
			return -EBADMSG;
	}
	if (proto_get_str(&c, path, cap) || !proto_cursor_done(&c) || !path[0])
		return -EBADMSG;
	return 0;
}

/* A revision of 0 is the first release's HELLO: the magic alone. */
int proto_hello_encode(struct proto_buf *b, uint32_t revision)
{
	proto_put_u32(b, PROTO_MAGIC);
	if (revision)
		proto_put_u32(b, revision);
	return b->bad ? -E2BIG : 0;
}

/*
 * An agent of the first release answers the magic alone: revision 0. Later
 * revisions may append fields after the revision, which a reader that
 * does not know them skips, so this is the one payload that need not
 * decode exactly.
 */
int proto_hello_decode(const uint8_t *p, size_t len, uint32_t *revision)
{
	struct proto_cursor c = { .p = p, .len = len };

	*revision = 0;
	if (len != PROTO_HELLO_SIZE && len < PROTO_HELLO_REV_SIZE)
		return -EBADMSG;
	if (proto_get_u32(&c) != PROTO_MAGIC)
		return -EBADMSG;
	if (len >= PROTO_HELLO_REV_SIZE)
		*revision = proto_get_u32(&c);
	return c.bad ? -EBADMSG : 0;
}

/* The same packing as EXEC's size, so 0 means "unknown" in both. */
int proto_winsize_encode(struct proto_buf *b, uint16_t rows, uint16_t cols)
{
	proto_put_u32(b, (uint32_t)rows << 16 | cols);
	return b->bad ? -E2BIG : 0;
}

int proto_winsize_decode(const uint8_t *p, size_t len, uint16_t *rows,
			 uint16_t *cols)
{
	struct proto_cursor c = { .p = p, .len = len };
	uint32_t size;

	if (len != PROTO_WINSIZE_SIZE)
		return -EBADMSG;
	size = proto_get_u32(&c);
	*rows = size >> 16;
	*cols = size & 0xffff;
	return 0;
}

int proto_restored_encode(struct proto_buf *b, const struct proto_restored *r)
{
	proto_put_u64(b, r->sec);
	proto_put_u32(b, r->nsec);
	proto_put_u32(b, PROTO_SEED_SIZE);
	proto_put_bytes(b, r->seed, PROTO_SEED_SIZE);
	return b->bad ? -E2BIG : 0;
}

/*
 * The seed's length is on the wire so the format can say what it carries,
 * but only PROTO_SEED_SIZE is taken: fewer bytes would be credited as
 * entropy they do not have. The time must fit a struct timespec.
 */
int proto_restored_decode(const uint8_t *p, size_t len, struct proto_restored *r)
{
	struct proto_cursor c = { .p = p, .len = len };
	uint32_t seed_len;

	r->sec = proto_get_u64(&c);
	r->nsec = proto_get_u32(&c);
	seed_len = proto_get_u32(&c);
	if (c.bad || r->sec > INT64_MAX || r->nsec >= 1000000000u ||
	    seed_len != PROTO_SEED_SIZE || len != PROTO_RESTORED_SIZE)
		return -EBADMSG;
	memcpy(r->seed, c.p + c.off, PROTO_SEED_SIZE);
	return 0;
}
