/*
 * A tiny test harness. Each case runs with a struct check; the CHECK
 * helpers record the first failure and return whether they held, so a case
 * stops early with "if (!CHECK(...)) return;" only where continuing would
 * be unsafe. Every case prints exactly one PASS:, FAIL: or SKIP: line.
 */
#ifndef AGENTBOX_CHECK_H
#define AGENTBOX_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "snapshot_file.h"

struct check {
	const char *suite;
	const char *name;
	bool failed;
	bool skipped;
	char why[512];
};

bool check_true(struct check *c, bool cond, const char *file, int line,
		const char *expr);
bool check_u64(struct check *c, uint64_t got, uint64_t want,
	       const char *file, int line, const char *expr);
bool check_int(struct check *c, long long got, long long want,
	       const char *file, int line, const char *expr);
bool check_mem(struct check *c, const void *got, const void *want,
	       size_t len, const char *file, int line, const char *expr);
bool check_str(struct check *c, const char *got, const char *want,
	       const char *file, int line, const char *expr);
__printf(2, 3)
bool check_fail(struct check *c, const char *fmt, ...);
__printf(2, 3)
void check_skip(struct check *c, const char *fmt, ...);

void check_run(const char *suite, const char *name,
	       void (*fn)(struct check *c));
/* Exit status for main: non-zero if any case failed. */
int check_exit(void);

/* Run test_foo as case "foo" of suite. */
#define RUN(suite, fn) check_run((suite), #fn, (fn))
#define CHECK(c, cond) check_true((c), (cond), __FILE__, __LINE__, #cond)
#define CHECK_U64(c, got, want) \
	check_u64((c), (got), (want), __FILE__, __LINE__, #got)
#define CHECK_INT(c, got, want) \
	check_int((c), (got), (want), __FILE__, __LINE__, #got)
#define CHECK_MEM(c, got, want, len) \
	check_mem((c), (got), (want), (len), __FILE__, __LINE__, #got)
#define CHECK_STR(c, got, want) \
	check_str((c), (got), (want), __FILE__, __LINE__, #got)

/* Little-endian field access for hand-written offsets. */
uint16_t get16(const uint8_t *p);
uint32_t get32(const uint8_t *p);
uint64_t get64(const uint8_t *p);
void put16(uint8_t *p, uint16_t v);
void put32(uint8_t *p, uint32_t v);
void put64(uint8_t *p, uint64_t v);
/* Write split-ring descriptor i of the table at p, as a driver would. */
void put_desc(uint8_t *table, unsigned int i, uint64_t addr, uint32_t len,
	      uint16_t flags, uint16_t next);

/*
 * Seal b and index it as a restore reads a state file: 0 or what
 * snap_parse() says.
 */
int snap_reparse(struct snap_builder *b, struct snap_index *idx);

/* A state file of one section, indexed into idx. */
int snap_one(struct snap_index *idx, struct snap_builder *b, uint32_t tag,
	     uint32_t instance, const void *payload, size_t len);

/*
 * Give restore() a state file whose one section (tag, instance 0) is p:
 * it must refuse it with -EINVAL and a why that starts with want.
 */
bool check_refused(struct check *c, uint32_t tag, const void *p, size_t len,
		   int (*restore)(const struct snap_index *idx, char *why,
				  size_t why_size),
		   const char *want);

/*
 * Send the VMM's log to a temporary file (-1 if none could be made),
 * then count its lines and send it back to /dev/null: for checks that
 * a guest cannot make us log without bound.
 */
int log_capture(void);
unsigned int log_release(int fd);

#endif /* AGENTBOX_CHECK_H */
