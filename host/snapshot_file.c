#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "snapshot_file.h"

#define SNAP_MAGIC		"AGBXSNAP"
#define SNAP_HEADER_LEN		32
#define SNAP_HEADER_CRC_OFF	24
#define SNAP_SECTION_HEAD_LEN	16
#define SNAP_SECTION_CRC_LEN	4

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, v);
	put_le32(p + 4, v >> 32);
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint32_t crc(const uint8_t *p, size_t len)
{
	return crc32(0, p, len);
}

void snap_builder_init(struct snap_builder *b)
{
	memset(b, 0, sizeof(*b));
}

void snap_builder_free(struct snap_builder *b)
{
	free(b->data);
	snap_builder_init(b);
}

static int reserve(struct snap_builder *b, size_t more)
{
	size_t want = b->len + more, cap = b->cap ? b->cap : 4096;
	uint8_t *data;

	if (want > SNAP_MAX_FILE_LEN)
		return -E2BIG;
	while (cap < want)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	data = realloc(b->data, cap);
	if (!data)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

static bool section_exists(const struct snap_builder *b, uint32_t tag,
			   uint32_t instance)
{
	size_t off = SNAP_HEADER_LEN;

	while (off < b->len) {
		if (get_le32(b->data + off) == tag &&
		    get_le32(b->data + off + 4) == instance)
			return true;
		off += SNAP_SECTION_HEAD_LEN + get_le64(b->data + off + 8) +
		       SNAP_SECTION_CRC_LEN;
	}
	return false;
}

int snap_add_section(struct snap_builder *b, uint32_t tag, uint32_t instance,
		     const void *payload, size_t len)
{
	uint8_t *head;
	int err;

	if (b->nr_sections >= SNAP_MAX_SECTIONS || len > SNAP_MAX_SECTION_LEN)
		return -E2BIG;
	if (!b->len) {
		err = reserve(b, SNAP_HEADER_LEN);
		if (err)
			return err;
		memset(b->data, 0, SNAP_HEADER_LEN);
		b->len = SNAP_HEADER_LEN;
	}
	if (section_exists(b, tag, instance))
		return -EEXIST;
	err = reserve(b, SNAP_SECTION_HEAD_LEN + len + SNAP_SECTION_CRC_LEN);
	if (err)
		return err;
	head = b->data + b->len;
	put_le32(head, tag);
	put_le32(head + 4, instance);
	put_le64(head + 8, len);
	if (len)
		memcpy(head + SNAP_SECTION_HEAD_LEN, payload, len);
	put_le32(head + SNAP_SECTION_HEAD_LEN + len,
		 crc(head, SNAP_SECTION_HEAD_LEN + len));
	b->len += SNAP_SECTION_HEAD_LEN + len + SNAP_SECTION_CRC_LEN;
	b->nr_sections++;
	return 0;
}

int snap_seal(struct snap_builder *b)
{
	int err;

	if (!b->len) {
		err = reserve(b, SNAP_HEADER_LEN);
		if (err)
			return err;
		b->len = SNAP_HEADER_LEN;
	}
	memcpy(b->data, SNAP_MAGIC, 8);
	put_le32(b->data + 8, SNAP_FORMAT_VERSION);
	put_le32(b->data + 12, b->nr_sections);
	put_le64(b->data + 16, b->len);
	put_le32(b->data + SNAP_HEADER_CRC_OFF, crc(b->data, SNAP_HEADER_CRC_OFF));
	put_le32(b->data + 28, 0);
	return 0;
}

int snap_write_file(struct snap_builder *b, const char *path)
{
	int err;

	err = snap_seal(b);
	if (err)
		return err;
	return fileio_write_atomic(path, b->data, b->len);
}

int snap_refuse(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_header(const uint8_t *buf, size_t len, uint32_t *nr,
			char *why, size_t n)
{
	uint64_t file_len;

	if (len < SNAP_HEADER_LEN)
		return snap_refuse(why, n,
				   "truncated: %zu bytes, shorter than the %d-byte header",
				   len, SNAP_HEADER_LEN);
	if (memcmp(buf, SNAP_MAGIC, 8) != 0)
		return snap_refuse(why, n,
				   "not an agentbox snapshot (no %s magic)",
				   SNAP_MAGIC);
	if (get_le32(buf + SNAP_HEADER_CRC_OFF) != crc(buf, SNAP_HEADER_CRC_OFF) ||
	    get_le32(buf + 28) != 0)
		return snap_refuse(why, n, "corrupt header (checksum mismatch)");
	if (get_le32(buf + 8) != SNAP_FORMAT_VERSION) {
		snap_refuse(why, n,
			    "format version %u; this loader reads version %d",
			    get_le32(buf + 8), SNAP_FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	file_len = get_le64(buf + 16);
	if (file_len != len)
		return snap_refuse(why, n,
				   "%zu bytes, but the header says %llu (truncated or extended)",
				   len, (unsigned long long)file_len);
	*nr = get_le32(buf + 12);
	if (*nr > SNAP_MAX_SECTIONS)
		return snap_refuse(why, n,
				   "%u sections, more than the limit of %d",
				   *nr, SNAP_MAX_SECTIONS);
	return 0;
}

static int parse_section(const uint8_t *buf, size_t len, size_t *off,
			 struct snap_section *s, char *why, size_t n)
{
	const uint8_t *head = buf + *off;
	uint64_t plen;

	if (len - *off < SNAP_SECTION_HEAD_LEN)
		return snap_refuse(why, n,
				   "section at offset %zu: truncated header",
				   *off);
	plen = get_le64(head + 8);
	if (plen > SNAP_MAX_SECTION_LEN)
		return snap_refuse(why, n,
				   "section at offset %zu: %llu bytes, more than the limit of %u",
				   *off, (unsigned long long)plen,
				   SNAP_MAX_SECTION_LEN);
	if (len - *off - SNAP_SECTION_HEAD_LEN < plen + SNAP_SECTION_CRC_LEN)
		return snap_refuse(why, n,
				   "section at offset %zu: truncated payload",
				   *off);
	if (get_le32(head + SNAP_SECTION_HEAD_LEN + plen) !=
	    crc(head, SNAP_SECTION_HEAD_LEN + plen))
		return snap_refuse(why, n,
				   "section at offset %zu: checksum mismatch",
				   *off);
	s->tag = get_le32(head);
	s->instance = get_le32(head + 4);
	s->payload = head + SNAP_SECTION_HEAD_LEN;
	s->len = plen;
	*off += SNAP_SECTION_HEAD_LEN + plen + SNAP_SECTION_CRC_LEN;
	return 0;
}

int snap_parse(const uint8_t *buf, size_t len, struct snap_index *idx,
	       char *why, size_t why_size)
{
	size_t off = SNAP_HEADER_LEN;
	uint32_t nr = 0, i;
	int err;

	memset(idx, 0, sizeof(*idx));
	err = parse_header(buf, len, &nr, why, why_size);
	if (err)
		return err;
	for (i = 0; i < nr; i++) {
		struct snap_section *s = &idx->sec[i];

		err = parse_section(buf, len, &off, s, why, why_size);
		if (err)
			return err;
		if (snap_find(idx, s->tag, s->instance))
			return snap_refuse(why, why_size,
					   "section %u: tag %#x instance %u appears twice",
					   i, s->tag, s->instance);
		idx->nr = i + 1;
	}
	if (off != len)
		return snap_refuse(why, why_size,
				   "%zu bytes after the last section",
				   len - off);
	idx->version = SNAP_FORMAT_VERSION;
	return 0;
}

const struct snap_section *snap_find(const struct snap_index *idx,
				     uint32_t tag, uint32_t instance)
{
	unsigned int i;

	for (i = 0; i < idx->nr; i++)
		if (idx->sec[i].tag == tag && idx->sec[i].instance == instance)
			return &idx->sec[i];
	return NULL;
}

int snap_read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct iovec iov;
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto close_file;
	}
	err = !S_ISREG(st.st_mode) ? -EINVAL : st.st_size > SNAP_MAX_FILE_LEN ? -EFBIG : 0;
	if (err)
		goto close_file;
	err = -ENOMEM;
	*buf = malloc(st.st_size ? st.st_size : 1);
	if (!*buf)
		goto close_file;
	iov = (struct iovec){ .iov_base = *buf, .iov_len = st.st_size };
	err = fileio_transfer(fd, &iov, 1, 0, false);
	if (err) {
		free(*buf);
		*buf = NULL;
		goto close_file;
	}
	*len = st.st_size;
close_file:
	close(fd);
	return err;
}
