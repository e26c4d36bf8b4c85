/*
 * The snapshot state file: a header and a list of sections, each section
 * one piece of VM state (a vCPU, the PIT, a device...) that its owner
 * writes and reads back. Everything is little-endian and checksummed, and
 * every length is capped, so a truncated, corrupt or hostile file is
 * refused before any of it is restored.
 *
 *   header   "AGBXSNAP", u32 version, u32 section count, u64 file length,
 *            u32 crc32 of the preceding 24 bytes, u32 zero
 *   section  u32 tag, u32 instance, u64 payload length, payload,
 *            u32 crc32 of tag..payload
 */
#ifndef AGENTBOX_SNAPSHOT_FILE_H
#define AGENTBOX_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#define SNAP_FORMAT_VERSION	1
#define SNAP_MAX_SECTIONS	512
#define SNAP_MAX_SECTION_LEN	(1u << 20)
#define SNAP_MAX_FILE_LEN	(32u << 20)

#define SNAP_TAG(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

struct snap_builder {
	uint8_t *data;
	size_t len;
	size_t cap;
	uint32_t nr_sections;
};

struct snap_section {
	uint32_t tag;
	uint32_t instance;
	const uint8_t *payload;
	size_t len;
};

struct snap_index {
	uint32_t version;
	unsigned int nr;
	struct snap_section sec[SNAP_MAX_SECTIONS];
};

void snap_builder_init(struct snap_builder *b);
void snap_builder_free(struct snap_builder *b);
/* -E2BIG past the caps, -EEXIST for a repeated tag and instance. */
int snap_add_section(struct snap_builder *b, uint32_t tag, uint32_t instance,
		     const void *payload, size_t len);
/* Write the header: b->data is then a whole state file. */
int snap_seal(struct snap_builder *b);
/* Seal the header and replace path atomically (temp file, fsync, rename). */
int snap_write_file(struct snap_builder *b, const char *path);

/*
 * Check every byte of buf and index its sections, which point into buf.
 * On -EINVAL (or -EPROTONOSUPPORT for another format version) why says
 * what is wrong and where.
 */
int snap_parse(const uint8_t *buf, size_t len, struct snap_index *idx,
	       char *why, size_t why_size);
const struct snap_section *snap_find(const struct snap_index *idx,
				     uint32_t tag, uint32_t instance);
/* Put the reason in why and return -EINVAL: how restores refuse. */
__printf(3, 4)
int snap_refuse(char *why, size_t why_size, const char *fmt, ...);

/* Read a whole state file, refusing one over SNAP_MAX_FILE_LEN. */
int snap_read_file(const char *path, uint8_t **buf, size_t *len);

#endif /* AGENTBOX_SNAPSHOT_FILE_H */
