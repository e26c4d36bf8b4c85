/*
 * The snapshot state file: what is written reads back, and every damaged
 * file is refused (each truncation, random bit flips, another version).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "snapshot_file.h"

#define SUITE	"snapshot_file"

static const char vcpu0[] = "registers of vCPU 0";
static const char vcpu1[] = "registers of vCPU 1, a little longer";
static const uint8_t pit[64] = { 1, 2, 3 };

static char dir[64];

static int build(struct snap_builder *b)
{
	snap_builder_init(b);
	return snap_add_section(b, SNAP_TAG('V', 'C', 'P', 'U'), 0, vcpu0, sizeof(vcpu0)) ?:
	       snap_add_section(b, SNAP_TAG('V', 'C', 'P', 'U'), 1, vcpu1, sizeof(vcpu1)) ?:
	       snap_add_section(b, SNAP_TAG('P', 'I', 'T', ' '), 0, pit, sizeof(pit)) ?:
	       snap_add_section(b, SNAP_TAG('E', 'M', 'P', 'T'), 0, NULL, 0);
}

/* The bytes of a good file, written through the real path. */
static uint8_t *good_file(struct check *c, size_t *len)
{
	struct snap_builder b;
	char path[128];
	uint8_t *buf = NULL;

	snprintf(path, sizeof(path), "%s/state", dir);
	if (!CHECK_INT(c, build(&b), 0) ||
	    !CHECK_INT(c, snap_write_file(&b, path), 0) ||
	    !CHECK_INT(c, snap_read_file(path, &buf, len), 0)) {
		snap_builder_free(&b);
		return NULL;
	}
	snap_builder_free(&b);
	return buf;
}

static void test_round_trip(struct check *c)
{
	static struct snap_index idx;
	const struct snap_section *s;
	char why[256] = "";
	uint8_t *buf;
	size_t len;

	buf = good_file(c, &len);
	if (!buf)
		return;
	if (CHECK_INT(c, snap_parse(buf, len, &idx, why, sizeof(why)), 0)) {
		CHECK_INT(c, idx.nr, 4);
		s = snap_find(&idx, SNAP_TAG('V', 'C', 'P', 'U'), 1);
		if (CHECK(c, s != NULL) && CHECK_INT(c, s->len, sizeof(vcpu1)))
			CHECK_MEM(c, s->payload, vcpu1, sizeof(vcpu1));
		s = snap_find(&idx, SNAP_TAG('P', 'I', 'T', ' '), 0);
		if (CHECK(c, s != NULL) && CHECK_INT(c, s->len, sizeof(pit)))
			CHECK_MEM(c, s->payload, pit, sizeof(pit));
		s = snap_find(&idx, SNAP_TAG('E', 'M', 'P', 'T'), 0);
		CHECK(c, s != NULL && s->len == 0);
		CHECK(c, !snap_find(&idx, SNAP_TAG('V', 'C', 'P', 'U'), 2));
	}
	free(buf);
}

static void test_builder_limits(struct check *c)
{
	static uint8_t big[SNAP_MAX_SECTION_LEN + 1];
	struct snap_builder b;

	CHECK_INT(c, build(&b), 0);
	CHECK_INT(c, snap_add_section(&b, SNAP_TAG('P', 'I', 'T', ' '), 0, pit, 1), -EEXIST);
	CHECK_INT(c, snap_add_section(&b, SNAP_TAG('B', 'I', 'G', ' '), 0, big, sizeof(big)), -E2BIG);
	CHECK_INT(c, snap_add_section(&b, SNAP_TAG('B', 'I', 'G', ' '), 0, big, sizeof(big) - 1), 0);
	snap_builder_free(&b);
}

static void test_every_truncation_refused(struct check *c)
{
	static struct snap_index idx;
	char why[256];
	uint8_t *buf;
	size_t len, cut;

	buf = good_file(c, &len);
	if (!buf)
		return;
	for (cut = 0; cut < len; cut++) {
		why[0] = '\0';
		if (snap_parse(buf, cut, &idx, why, sizeof(why)) != -EINVAL || !why[0]) {
			check_fail(c, "a file cut to %zu of %zu bytes was not refused", cut, len);
			break;
		}
	}
	free(buf);
}

static void test_bit_flips_refused(struct check *c)
{
	static struct snap_index idx;
	char why[256];
	unsigned int seed = 1, i;
	uint8_t *buf;
	size_t len, bit;

	buf = good_file(c, &len);
	if (!buf)
		return;
	for (i = 0; i < 1000; i++) {
		bit = rand_r(&seed) % (len * 8);
		buf[bit / 8] ^= 1 << (bit % 8);
		why[0] = '\0';
		if (snap_parse(buf, len, &idx, why, sizeof(why)) >= 0 || !why[0]) {
			check_fail(c, "flipping bit %zu was not noticed", bit);
			break;
		}
		buf[bit / 8] ^= 1 << (bit % 8);
	}
	CHECK_INT(c, snap_parse(buf, len, &idx, why, sizeof(why)), 0);
	free(buf);
}

static void test_other_version_refused(struct check *c)
{
	static struct snap_index idx;
	char why[256] = "";
	uint8_t *buf;
	size_t len;
	uint32_t sum;

	buf = good_file(c, &len);
	if (!buf)
		return;
	buf[8] = SNAP_FORMAT_VERSION + 1;
	/* Re-seal the header, as a newer loader would have. */
	sum = crc32(0, buf, 24);
	memcpy(buf + 24, &sum, 4);	/* x86 is little-endian, like the file */
	CHECK_INT(c, snap_parse(buf, len, &idx, why, sizeof(why)), -EPROTONOSUPPORT);
	CHECK(c, strstr(why, "format version 2") != NULL);
	free(buf);
}

static void test_write_is_atomic(struct check *c)
{
	struct snap_builder b;
	struct dirent *de;
	char path[128];
	int entries = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/no-such-dir/state", dir);
	CHECK_INT(c, build(&b), 0);
	CHECK_INT(c, snap_write_file(&b, path), -ENOENT);
	snprintf(path, sizeof(path), "%s/state", dir);
	CHECK_INT(c, snap_write_file(&b, path), 0);
	CHECK_INT(c, snap_write_file(&b, path), 0);
	snap_builder_free(&b);
	d = opendir(dir);
	if (!CHECK(c, d != NULL))
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			entries++;
	closedir(d);
	CHECK_INT(c, entries, 1);
}

static void test_read_file_refusals(struct check *c)
{
	char path[128];
	uint8_t *buf = NULL;
	size_t len;
	int fd;

	CHECK_INT(c, snap_read_file(dir, &buf, &len), -EINVAL);
	snprintf(path, sizeof(path), "%s/huge", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (!CHECK(c, fd >= 0))
		return;
	CHECK_INT(c, ftruncate(fd, SNAP_MAX_FILE_LEN + 1), 0);
	close(fd);
	CHECK_INT(c, snap_read_file(path, &buf, &len), -EFBIG);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_INT(c, snap_read_file(path, &buf, &len), -ENOENT);
}

int main(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/agentbox-snapfile.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(SUITE, test_round_trip);
	RUN(SUITE, test_builder_limits);
	RUN(SUITE, test_every_truncation_refused);
	RUN(SUITE, test_bit_flips_refused);
	RUN(SUITE, test_other_version_refused);
	RUN(SUITE, test_write_is_atomic);
	RUN(SUITE, test_read_file_refusals);
	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	rmdir(dir);
	return check_exit();
}
