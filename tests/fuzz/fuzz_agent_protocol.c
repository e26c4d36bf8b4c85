/*
 * The agent protocol's decoders on arbitrary bytes, split into frames the
 * way agentboxd and the host client read them: whatever the peer sends,
 * decoding must stay inside the payload and every field inside its limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static struct proto_exec req;
static char path[PROTO_STR_MAX + 1];

static void check_exec(void)
{
	uint32_t i;

	if (req.argc == 0 || req.argc > PROTO_ARGS_MAX || req.envc > PROTO_ARGS_MAX ||
	    req.argv[req.argc] || req.envp[req.envc])
		__builtin_trap();
	for (i = 0; i < req.argc; i++)
		if (strlen(req.argv[i]) > PROTO_STR_MAX)
			__builtin_trap();
}

static void check_restored(const struct proto_restored *r)
{
	if (r->sec > INT64_MAX || r->nsec >= 1000000000u)
		__builtin_trap();
}

static void payload(const struct proto_hdr *h, const uint8_t *p)
{
	struct proto_restored r;
	uint32_t mode, rev;
	uint16_t rows, cols;

	switch (h->type) {
	/* Both sides decode a HELLO: the agent the client's, the client the
	 * agent's, with its revision. */
	case P_HELLO:
		if (proto_hello_decode(p, h->len, &rev) == 0 &&
		    h->len != PROTO_HELLO_SIZE && h->len < PROTO_HELLO_REV_SIZE)
			__builtin_trap();
		break;
	case P_WINSIZE:
		if (proto_winsize_decode(p, h->len, &rows, &cols) == 0 &&
		    h->len != PROTO_WINSIZE_SIZE)
			__builtin_trap();
		break;
	case P_EXEC:
		if (proto_exec_decode(p, h->len, &req) == 0)
			check_exec();
		break;
	case P_PUT:
	case P_GET:
	case P_CONNECT:
		if (proto_path_decode(p, h->len, &mode, h->type == P_PUT, path,
				      sizeof(path)) == 0 && strlen(path) > PROTO_STR_MAX)
			__builtin_trap();
		break;
	case P_RESTORED:
		if (proto_restored_decode(p, h->len, &r) == 0) {
			check_restored(&r);
			if (h->len != PROTO_RESTORED_SIZE)
				__builtin_trap();
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_hdr h;

	while (size >= PROTO_HDR_SIZE) {
		if (proto_hdr_decode(data, &h))
			return 0;
		data += PROTO_HDR_SIZE;
		size -= PROTO_HDR_SIZE;
		if (h.len > size)
			return 0;
		/* A copy of exactly the payload, so ASan catches any over-read. */
		uint8_t *p = malloc(h.len ? h.len : 1);

		memcpy(p, data, h.len);
		payload(&h, p);
		free(p);
		data += h.len;
		size -= h.len;
	}
	return 0;
}
