/*
 * The agent protocol's codec (guest-agent/protocol.c), its frame stream
 * (wire.c) and SHA-256, as the guest agent and the host client use them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "check.h"
#include "protocol.h"
#include "sha256.h"
#include "wire.h"

static uint8_t payload[PROTO_PAYLOAD_MAX];
static struct proto_exec exec_req;

static void test_header_round_trip(struct check *c)
{
	struct proto_hdr h = { .len = 77, .version = PROTO_VERSION, .type = P_EXEC,
			       .channel = 0xdeadbeef }, got;
	uint8_t raw[PROTO_HDR_SIZE];

	proto_hdr_encode(raw, &h);
	CHECK_U64(c, get32(raw), 77);
	CHECK_INT(c, proto_hdr_decode(raw, &got), 0);
	CHECK_U64(c, got.channel, 0xdeadbeef);
	CHECK_U64(c, got.type, P_EXEC);
}

static void test_header_rejects(struct check *c)
{
	struct proto_hdr h = { .len = 0, .version = PROTO_VERSION, .type = P_HELLO }, got;
	uint8_t raw[PROTO_HDR_SIZE];

	h.version = 2;
	proto_hdr_encode(raw, &h);
	CHECK_INT(c, proto_hdr_decode(raw, &got), -EPROTO);
	h.version = PROTO_VERSION;
	h.len = PROTO_PAYLOAD_MAX + 1;
	proto_hdr_encode(raw, &h);
	CHECK_INT(c, proto_hdr_decode(raw, &got), -EMSGSIZE);
	h.len = 0;
	h.type = 0x7f;
	proto_hdr_encode(raw, &h);
	CHECK_INT(c, proto_hdr_decode(raw, &got), -EBADMSG);
	h.type = P_HELLO;
	h.flags = 1;
	proto_hdr_encode(raw, &h);
	CHECK_INT(c, proto_hdr_decode(raw, &got), -EBADMSG);
}

static size_t encode_exec(void)
{
	char *argv[] = { "sh", "-c", "echo hi", NULL };
	char *envp[] = { "A=1", NULL };
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };

	if (proto_exec_encode(&b, PROTO_EXEC_TTY, 30, 100, "/tmp", argv, envp))
		return 0;
	return b.len;
}

static void test_exec_round_trip(struct check *c)
{
	size_t len = encode_exec();

	if (!CHECK(c, len > 0))
		return;
	CHECK_INT(c, proto_exec_decode(payload, len, &exec_req), 0);
	CHECK_U64(c, exec_req.argc, 3);
	CHECK_STR(c, exec_req.argv[2], "echo hi");
	CHECK(c, exec_req.argv[3] == NULL);
	CHECK_STR(c, exec_req.envp[0], "A=1");
	CHECK_STR(c, exec_req.cwd, "/tmp");
	CHECK_U64(c, exec_req.rows, 30);
	CHECK_U64(c, exec_req.cols, 100);
}

/* Every proper prefix of a valid request is a truncated one. */
static void test_exec_truncated(struct check *c)
{
	size_t len = encode_exec(), cut;

	for (cut = 0; cut < len; cut++)
		if (!CHECK_INT(c, proto_exec_decode(payload, cut, &exec_req), -EBADMSG))
			return;
	payload[len] = 0;
	CHECK_INT(c, proto_exec_decode(payload, len + 1, &exec_req), -EBADMSG);
}

static void test_exec_limits(struct check *c)
{
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };
	static char *many[PROTO_ARGS_MAX + 2];
	char *empty[] = { NULL };
	size_t i;

	for (i = 0; i <= PROTO_ARGS_MAX; i++)
		many[i] = "x";
	CHECK_INT(c, proto_exec_encode(&b, 0, 0, 0, "", many, NULL), -E2BIG);
	b.len = 0;
	b.bad = false;
	CHECK_INT(c, proto_exec_encode(&b, 0, 0, 0, "", empty, NULL), -E2BIG);
	/* argc beyond the limit, claimed by a hand-made payload */
	b = (struct proto_buf){ .p = payload, .cap = sizeof(payload) };
	proto_put_u32(&b, 0);
	proto_put_u32(&b, 0);
	proto_put_str(&b, "");
	proto_put_u32(&b, PROTO_ARGS_MAX + 1);
	CHECK_INT(c, proto_exec_decode(payload, b.len, &exec_req), -EBADMSG);
	/* a string with a NUL inside */
	b = (struct proto_buf){ .p = payload, .cap = sizeof(payload) };
	proto_put_u32(&b, 0);
	proto_put_u32(&b, 0);
	proto_put_u32(&b, 3);
	proto_put_bytes(&b, "a\0b", 3);
	proto_put_u32(&b, 0);
	proto_put_u32(&b, 0);
	CHECK_INT(c, proto_exec_decode(payload, b.len, &exec_req), -EBADMSG);
}

static void test_path_decode(struct check *c)
{
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };
	char path[64];
	uint32_t mode;

	proto_put_u32(&b, 0644);
	proto_put_str(&b, "/tmp/x");
	CHECK_INT(c, proto_path_decode(payload, b.len, &mode, true, path, sizeof(path)), 0);
	CHECK_STR(c, path, "/tmp/x");
	CHECK_U64(c, mode, 0644);
	CHECK_INT(c, proto_path_decode(payload, b.len, &mode, false, path, sizeof(path)),
		  -EBADMSG);
	put16(payload, 0);
	payload[2] = 1;	/* mode 0x10000: not a permission */
	CHECK_INT(c, proto_path_decode(payload, b.len, &mode, true, path, sizeof(path)),
		  -EBADMSG);
	CHECK_INT(c, proto_path_decode(payload + 4, b.len - 4, &mode, false, path, 4),
		  -EBADMSG);
}

static size_t encode_restored(struct proto_restored *r)
{
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };
	size_t i;

	r->sec = 1700000000;
	r->nsec = 999999999;
	for (i = 0; i < PROTO_SEED_SIZE; i++)
		r->seed[i] = i * 7 + 1;
	if (proto_restored_encode(&b, r))
		return 0;
	return b.len;
}

static void test_restored_round_trip(struct check *c)
{
	struct proto_restored sent, got;
	size_t len = encode_restored(&sent);

	CHECK_U64(c, len, PROTO_RESTORED_SIZE);
	CHECK_U64(c, get32(payload + 12), PROTO_SEED_SIZE);
	CHECK_INT(c, proto_restored_decode(payload, len, &got), 0);
	CHECK_U64(c, got.sec, 1700000000);
	CHECK_U64(c, got.nsec, 999999999);
	CHECK(c, memcmp(got.seed, sent.seed, PROTO_SEED_SIZE) == 0);
}

/* Only exactly PROTO_SEED_SIZE bytes are taken, as claimed and as sent. */
static void test_restored_bad_seed(struct check *c)
{
	struct proto_restored r, got;
	size_t len = encode_restored(&r);

	put32(payload + 12, PROTO_SEED_SIZE - 1);
	CHECK_INT(c, proto_restored_decode(payload, len - 1, &got), -EBADMSG);
	CHECK_INT(c, proto_restored_decode(payload, len, &got), -EBADMSG);
	put32(payload + 12, PROTO_SEED_SIZE + 1);
	payload[len] = 0;
	CHECK_INT(c, proto_restored_decode(payload, len + 1, &got), -EBADMSG);
	put32(payload + 12, 0);
	CHECK_INT(c, proto_restored_decode(payload, 16, &got), -EBADMSG);
	/* the right length claimed, one byte more sent */
	put32(payload + 12, PROTO_SEED_SIZE);
	CHECK_INT(c, proto_restored_decode(payload, len + 1, &got), -EBADMSG);
}

static void test_restored_bad_time(struct check *c)
{
	struct proto_restored r, got;
	size_t len = encode_restored(&r);

	put32(payload + 8, 1000000000);
	CHECK_INT(c, proto_restored_decode(payload, len, &got), -EBADMSG);
	put32(payload + 8, 0);
	/* seconds past what a signed time_t holds */
	put32(payload + 4, 0x80000000u);
	CHECK_INT(c, proto_restored_decode(payload, len, &got), -EBADMSG);
}

static void test_restored_truncated(struct check *c)
{
	struct proto_restored r, got;
	size_t len = encode_restored(&r), cut;

	for (cut = 0; cut < len; cut++)
		if (!CHECK_INT(c, proto_restored_decode(payload, cut, &got), -EBADMSG))
			return;
}

/* The agent's answer carries its revision; the first release's does not. */
static void test_hello(struct check *c)
{
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };
	uint32_t rev = 7;

	CHECK_INT(c, proto_hello_encode(&b, 0), 0);
	CHECK_U64(c, b.len, PROTO_HELLO_SIZE);
	CHECK_U64(c, get32(payload), PROTO_MAGIC);
	CHECK_INT(c, proto_hello_decode(payload, b.len, &rev), 0);
	CHECK_U64(c, rev, 0);
	b.len = 0;
	CHECK_INT(c, proto_hello_encode(&b, PROTO_REVISION), 0);
	CHECK_U64(c, b.len, PROTO_HELLO_REV_SIZE);
	CHECK_INT(c, proto_hello_decode(payload, b.len, &rev), 0);
	CHECK_U64(c, rev, PROTO_REVISION);
	CHECK(c, PROTO_REVISION >= PROTO_REVISION_WINSIZE);
}

/* A later revision may append fields; a part of the revision may not. */
static void test_hello_rejects(struct check *c)
{
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };
	uint32_t rev;
	size_t len;

	proto_hello_encode(&b, 3);
	put32(payload + 8, 0xffffffff);
	for (len = 0; len < PROTO_HELLO_REV_SIZE; len++)
		if (len != PROTO_HELLO_SIZE &&
		    !CHECK_INT(c, proto_hello_decode(payload, len, &rev), -EBADMSG))
			return;
	CHECK_INT(c, proto_hello_decode(payload, PROTO_HELLO_REV_SIZE + 4, &rev), 0);
	CHECK_U64(c, rev, 3);
	put32(payload, PROTO_MAGIC ^ 1);
	CHECK_INT(c, proto_hello_decode(payload, PROTO_HELLO_SIZE, &rev), -EBADMSG);
	CHECK_INT(c, proto_hello_decode(payload, PROTO_HELLO_REV_SIZE, &rev), -EBADMSG);
}

/* WINSIZE packs like EXEC's size: rows in the high half. */
static void test_winsize(struct check *c)
{
	struct proto_buf b = { .p = payload, .cap = sizeof(payload) };
	uint16_t rows = 1, cols = 1;
	size_t len;

	CHECK_INT(c, proto_winsize_encode(&b, 40, 120), 0);
	CHECK_U64(c, b.len, PROTO_WINSIZE_SIZE);
	CHECK_U64(c, get32(payload), 40u << 16 | 120);
	CHECK_INT(c, proto_winsize_decode(payload, b.len, &rows, &cols), 0);
	CHECK_U64(c, rows, 40);
	CHECK_U64(c, cols, 120);
	put32(payload, 0xffff0000u);
	CHECK_INT(c, proto_winsize_decode(payload, 4, &rows, &cols), 0);
	CHECK_U64(c, rows, 0xffff);
	CHECK_U64(c, cols, 0);
	for (len = 0; len <= 8; len++)
		if (len != PROTO_WINSIZE_SIZE &&
		    !CHECK_INT(c, proto_winsize_decode(payload, len, &rows, &cols), -EBADMSG))
			return;
}

/* A type added in a later revision is known to the header check. */
static void test_winsize_header(struct check *c)
{
	struct proto_hdr h = { .len = 4, .version = PROTO_VERSION, .type = P_WINSIZE,
			       .channel = 5 }, got;
	uint8_t raw[PROTO_HDR_SIZE];

	proto_hdr_encode(raw, &h);
	CHECK_INT(c, proto_hdr_decode(raw, &got), 0);
	CHECK_U64(c, got.type, P_WINSIZE);
	h.type = P_WINSIZE + 1;
	proto_hdr_encode(raw, &h);
	CHECK_INT(c, proto_hdr_decode(raw, &got), -EBADMSG);
}

static void hex(const uint8_t *d, char *out)
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_vectors(struct check *c)
{
	struct sha256 s;
	uint8_t d[32];
	char h[65];
	int i;

	sha256_init(&s);
	sha256_final(&s, d);
	hex(d, h);
	CHECK_STR(c, h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_init(&s);
	sha256_update(&s, "abc", 3);
	sha256_final(&s, d);
	hex(d, h);
	CHECK_STR(c, h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_init(&s);
	memset(payload, 'a', 1000);
	for (i = 0; i < 1000; i++)
		sha256_update(&s, payload, 1000);
	sha256_final(&s, d);
	hex(d, h);
	CHECK_STR(c, h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Frames survive a byte stream delivered one byte at a time. */
static void test_wire_byte_at_a_time(struct check *c)
{
	static struct wire tx, rx;
	const uint8_t *p;
	struct proto_hdr h;
	int sv[2], got = 0, n;
	size_t i;

	if (!CHECK(c, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0))
		return;
	wire_init(&tx, sv[0]);
	wire_init(&rx, sv[1]);
	CHECK_INT(c, wire_send_u32(&tx, P_WINDOW, 5, 1234), 0);
	CHECK_INT(c, wire_send(&tx, P_DATA_OUT, 6, "hello", 5), 0);
	for (i = 0; i < tx.tx_len; i++)
		if (write(sv[0], tx.tx + i, 1) != 1)
			break;
	for (n = 1; n > 0 && got < 2; ) {
		n = wire_fill(&rx);
		if (wire_frame(&rx, &h, &p)) {
			CHECK_U64(c, h.channel, got ? 6 : 5);
			CHECK_U64(c, h.len, got ? 5 : 4);
			wire_consume(&rx);
			got++;
			n = 1;
		}
	}
	CHECK_INT(c, got, 2);
	close(sv[0]);
	CHECK_INT(c, wire_fill(&rx), -EPIPE);
	close(sv[1]);
}

static void test_wire_truncated_and_bounded(struct check *c)
{
	static struct wire w;
	uint8_t raw[PROTO_HDR_SIZE + 2];
	struct proto_hdr h = { .len = 10, .version = PROTO_VERSION, .type = P_DATA_IN,
			       .channel = 1 };
	int sv[2], n;

	if (!CHECK(c, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0))
		return;
	proto_hdr_encode(raw, &h);
	CHECK(c, write(sv[0], raw, sizeof(raw)) == sizeof(raw));
	close(sv[0]);
	wire_init(&w, sv[1]);
	do
		n = wire_fill(&w);
	while (n > 0);
	CHECK_INT(c, n, -ENODATA);
	close(sv[1]);
	/* The send buffer refuses rather than grows. */
	wire_init(&w, -1);
	while (wire_send(&w, P_DATA_OUT, 1, payload, PROTO_CHUNK_MAX) == 0)
		;
	CHECK(c, w.tx_len <= WIRE_TX_CAP);
	CHECK(c, !wire_data_room(&w));
	CHECK_INT(c, wire_send(&w, P_DATA_OUT, 1, payload, PROTO_PAYLOAD_MAX + 1), -EMSGSIZE);
}

/* A transport reset is a hangup, not a protocol error: the agent ends the
 * session quietly and serves on. A unix socket closed with unread input
 * resets its peer, as vsock does when a snapshot is restored. */
static void test_wire_reset_is_hangup(struct check *c)
{
	static struct wire w;
	int sv[2], n;

	if (!CHECK(c, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0))
		return;
	CHECK(c, write(sv[0], "x", 1) == 1);
	close(sv[1]);
	wire_init(&w, sv[0]);
	n = wire_fill(&w);
	CHECK_INT(c, n, -ECONNRESET);
	CHECK(c, wire_peer_gone(n));
	CHECK(c, wire_peer_gone(-EPIPE));
	CHECK(c, !wire_peer_gone(-EBADMSG));
	CHECK(c, !wire_peer_gone(-EPROTO));
	CHECK(c, !wire_peer_gone(-ENODATA));
	close(sv[0]);
}

int main(void)
{
	RUN("agent-protocol", test_header_round_trip);
	RUN("agent-protocol", test_header_rejects);
	RUN("agent-protocol", test_exec_round_trip);
	RUN("agent-protocol", test_exec_truncated);
	RUN("agent-protocol", test_exec_limits);
	RUN("agent-protocol", test_path_decode);
	RUN("agent-protocol", test_restored_round_trip);
	RUN("agent-protocol", test_restored_bad_seed);
	RUN("agent-protocol", test_restored_bad_time);
	RUN("agent-protocol", test_restored_truncated);
	RUN("agent-protocol", test_hello);
	RUN("agent-protocol", test_hello_rejects);
	RUN("agent-protocol", test_winsize);
	RUN("agent-protocol", test_winsize_header);
	RUN("agent-protocol", test_sha256_vectors);
	RUN("agent-protocol", test_wire_byte_at_a_time);
	RUN("agent-protocol", test_wire_truncated_and_bounded);
	RUN("agent-protocol", test_wire_reset_is_hangup);
	return check_exit();
}
