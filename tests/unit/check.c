#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static unsigned int nr_failed;

__printf(2, 0)
static bool vfail(struct check *c, const char *fmt, va_list ap)
{
	if (c->failed)
		return false;
	c->failed = true;
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	return false;
}

bool check_fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, fmt, ap);
	va_end(ap);
	return false;
}

static const char *base(const char *file)
{
	const char *slash = strrchr(file, '/');

	return slash ? slash + 1 : file;
}

bool check_true(struct check *c, bool cond, const char *file, int line,
		const char *expr)
{
	if (cond)
		return true;
	return check_fail(c, "%s:%d: %s is false", base(file), line, expr);
}

bool check_u64(struct check *c, uint64_t got, uint64_t want,
	       const char *file, int line, const char *expr)
{
	if (got == want)
		return true;
	return check_fail(c, "%s:%d: %s is 0x%" PRIx64 ", want 0x%" PRIx64,
		    base(file), line, expr, got, want);
}

bool check_int(struct check *c, long long got, long long want,
	       const char *file, int line, const char *expr)
{
	if (got == want)
		return true;
	return check_fail(c, "%s:%d: %s is %lld, want %lld", base(file), line, expr,
		    got, want);
}

bool check_mem(struct check *c, const void *got, const void *want,
	       size_t len, const char *file, int line, const char *expr)
{
	const uint8_t *g = got, *w = want;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != w[i])
			return check_fail(c, "%s:%d: %s byte %zu is 0x%02x, want 0x%02x",
				    base(file), line, expr, i, g[i], w[i]);
	return true;
}

bool check_str(struct check *c, const char *got, const char *want,
	       const char *file, int line, const char *expr)
{
	if (!strcmp(got, want))
		return true;
	return check_fail(c, "%s:%d: %s is \"%s\", want \"%s\"", base(file), line,
		    expr, got, want);
}

void check_skip(struct check *c, const char *fmt, ...)
{
	va_list ap;

	c->skipped = true;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

void check_run(const char *suite, const char *name,
	       void (*fn)(struct check *c))
{
	struct check c = { .suite = suite, .name = name };

	if (!strncmp(name, "test_", 5))
		c.name = name + 5;
	fn(&c);
	if (c.failed) {
		nr_failed++;
		printf("FAIL: %s: %s: %s\n", suite, c.name, c.why);
	} else if (c.skipped) {
		printf("SKIP: %s: %s: %s\n", suite, c.name, c.why);
	} else {
		printf("PASS: %s: %s\n", suite, c.name);
	}
	fflush(stdout);
}

int check_exit(void)
{
	return nr_failed ? 1 : 0;
}

uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

void put_desc(uint8_t *table, unsigned int i, uint64_t addr, uint32_t len,
	      uint16_t flags, uint16_t next)
{
	uint8_t *d = table + 16 * i;

	put64(d, addr);
	put32(d + 8, len);
	put16(d + 12, flags);
	put16(d + 14, next);
}

int snap_reparse(struct snap_builder *b, struct snap_index *idx)
{
	char why[256];
	int err;

	err = snap_seal(b);
	if (err)
		return err;
	return snap_parse(b->data, b->len, idx, why, sizeof(why));
}

int snap_one(struct snap_index *idx, struct snap_builder *b, uint32_t tag,
	     uint32_t instance, const void *payload, size_t len)
{
	int err;

	snap_builder_free(b);
	err = snap_add_section(b, tag, instance, payload, len);
	if (err)
		return err;
	return snap_reparse(b, idx);
}

bool check_refused(struct check *c, uint32_t tag, const void *p, size_t len,
		   int (*restore)(const struct snap_index *idx, char *why,
				  size_t why_size),
		   const char *want)
{
	static struct snap_index idx;
	struct snap_builder b;
	char why[256] = "";
	bool ok = false;

	snap_builder_init(&b);
	if (!CHECK_INT(c, snap_one(&idx, &b, tag, 0, p, len), 0))
		goto out;
	ok = restore(&idx, why, sizeof(why)) == -EINVAL &&
	     !strncmp(why, want, strlen(want));
	if (!ok)
		check_fail(c, "want \"%s...\", got \"%s\"", want, why);
out:
	snap_builder_free(&b);
	return ok;
}

int log_capture(void)
{
	char path[] = "/tmp/agentbox-log-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	log_set_fd(fd);
	return fd;
}

unsigned int log_release(int fd)
{
	unsigned int n = 0;
	char buf[4096];
	ssize_t len, i;

	log_set_fd(open("/dev/null", O_WRONLY));
	if (fd < 0)
		return 0;
	lseek(fd, 0, SEEK_SET);
	while ((len = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < len; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}
