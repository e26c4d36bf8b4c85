/*
 * Parse a fuzzer-controlled snapshot state file. Whatever it accepts must
 * index only bytes inside the input, and must build back into exactly the
 * same bytes: the parser and the writer agree on the format.
 */
#include <stdlib.h>
#include <string.h>

#include "snapshot_file.h"

static struct snap_index idx;

static void check_rebuilds(const uint8_t *data, size_t size)
{
	struct snap_builder b;
	unsigned int i;

	snap_builder_init(&b);
	for (i = 0; i < idx.nr; i++) {
		const struct snap_section *s = &idx.sec[i];

		if (s->payload < data || s->len > size ||
		    s->payload + s->len > data + size)
			__builtin_trap();
		if (snap_add_section(&b, s->tag, s->instance, s->payload, s->len))
			__builtin_trap();
	}
	/* The builder leaves the header for snap_write_file to seal. */
	if (b.len != size || memcmp(b.data + 32, data + 32, size - 32))
		__builtin_trap();
	snap_builder_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];

	if (snap_parse(data, size, &idx, why, sizeof(why)) == 0)
		check_rebuilds(data, size);
	else if (!why[0])
		__builtin_trap();
	return 0;
}
