/*
 * The agentbox agent protocol (PROTOCOL.md): framed, versioned, every field
 * bounded. Shared by the guest agent and the host client, so both sides
 * check exactly the same limits.
 */
#ifndef AGENTBOX_PROTOCOL_H
#define AGENTBOX_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The vsock port agentboxd listens on (also in initramfs/agentbox-abi.h). */
#define PROTO_VSOCK_PORT	1024
#define PROTO_VERSION		1
#define PROTO_MAGIC		0x58424741u	/* "AGBX" in HELLO */
/*
 * What this side of version 1 understands beyond its first release, told
 * in the agent's HELLO answer (PROTOCOL.md, "Versions"). 1: WINSIZE.
 */
#define PROTO_REVISION		1
#define PROTO_REVISION_WINSIZE	1
#define PROTO_HDR_SIZE		12
#define PROTO_PAYLOAD_MAX	65536u
/* Data frames carry at most this much, so control frames are never stuck
 * behind a huge one. */
#define PROTO_CHUNK_MAX		32768u
/* Credit each side starts with, per channel and direction. */
#define PROTO_WINDOW		131072u
#define PROTO_STR_MAX		4096u
#define PROTO_ARGS_MAX		1024u
#define PROTO_CHANNEL_MAX	64u
#define PROTO_SHA256_SIZE	32
/* RESTORED's seed: 512 bits, twice what the kernel's crng needs to count
 * as fully seeded. */
#define PROTO_SEED_SIZE		64
/* u64 seconds, u32 nanoseconds, the seed as a u32-length byte string */
#define PROTO_RESTORED_SIZE	(8 + 4 + 4 + PROTO_SEED_SIZE)

enum proto_type {
	/* Connection: channel 0. */
	P_HELLO		= 0x01,	/* u32 magic; both ways, first frame */
	/* Client opens a channel (a fresh id, 1..2^32-1). */
	P_EXEC		= 0x10,	/* exec request, see struct proto_exec */
	P_PUT		= 0x11,	/* u32 mode, str path */
	P_GET		= 0x12,	/* str path */
	P_CONNECT	= 0x13,	/* str path of a guest unix socket */
	P_READY		= 0x14,	/* empty; EXIT 0 once dockerd is ready */
	P_SHUTDOWN	= 0x15,	/* empty; EXIT 0, then the guest powers off */
	P_RESTORED	= 0x16,	/* see struct proto_restored; EXIT 0 when done */
	/* Streams: IN is host to guest, OUT and ERR guest to host. */
	P_DATA_IN	= 0x20,
	P_DATA_OUT	= 0x21,
	P_DATA_ERR	= 0x22,
	P_EOF_IN	= 0x23,	/* [sha256 of everything sent] */
	P_EOF_OUT	= 0x24,	/* [sha256 of everything sent] */
	P_EOF_ERR	= 0x25,
	P_WINDOW	= 0x26,	/* u32 more bytes the sender will accept */
	P_SIGNAL	= 0x27,	/* u32 signal number */
	P_EXIT		= 0x28,	/* u32 how (0 exit, 1 signal), u32 value */
	P_ERROR		= 0x29,	/* u32 errno, str message; channel 0: fatal */
	P_CLOSE		= 0x2a,	/* client abandons the channel */
	P_OPENED	= 0x2b,	/* u32 mode, u64 size (GET), or u32 pid, u64 0 */
	P_WINSIZE	= 0x2c,	/* u32 rows << 16 | cols of an EXEC's terminal */
};

enum proto_exit_how {
	PROTO_EXITED = 0,
	PROTO_SIGNALED = 1,
};

#define PROTO_EXEC_TTY	1u

struct proto_hdr {
	uint32_t len;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t channel;
};

/* Decoded strings point into strings[], each NUL-terminated. */
struct proto_exec {
	uint32_t flags;
	uint16_t rows, cols;
	char *cwd;
	uint32_t argc, envc;
	char *argv[PROTO_ARGS_MAX + 1];
	char *envp[PROTO_ARGS_MAX + 1];
	char strings[PROTO_PAYLOAD_MAX + 2 * PROTO_ARGS_MAX + 1];
};

/* HELLO: u32 magic, and from the agent, u32 revision (0 when absent) and
 * whatever later revisions append. */
#define PROTO_HELLO_SIZE	4
#define PROTO_HELLO_REV_SIZE	8
/* WINSIZE: one u32, nothing else. */
#define PROTO_WINSIZE_SIZE	4

/* RESTORED: the host's CLOCK_REALTIME and fresh random bytes. */
struct proto_restored {
	uint64_t sec;
	uint32_t nsec;
	uint8_t seed[PROTO_SEED_SIZE];
};

/* A bounded writer and reader over one payload. */
struct proto_buf {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

struct proto_cursor {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], const struct proto_hdr *h);
int proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], struct proto_hdr *h);
bool proto_type_known(unsigned int type);

void proto_put_u32(struct proto_buf *b, uint32_t v);
void proto_put_u64(struct proto_buf *b, uint64_t v);
void proto_put_bytes(struct proto_buf *b, const void *data, size_t len);
void proto_put_str(struct proto_buf *b, const char *s);

uint32_t proto_get_u32(struct proto_cursor *c);
uint64_t proto_get_u64(struct proto_cursor *c);
int proto_get_str(struct proto_cursor *c, char *out, size_t cap);
bool proto_cursor_done(const struct proto_cursor *c);

int proto_exec_encode(struct proto_buf *b, uint32_t flags, uint16_t rows,
		      uint16_t cols, const char *cwd, char *const argv[],
		      char *const envp[]);
int proto_exec_decode(const uint8_t *p, size_t len, struct proto_exec *e);
int proto_path_decode(const uint8_t *p, size_t len, uint32_t *mode,
		      bool with_mode, char *path, size_t cap);
int proto_hello_encode(struct proto_buf *b, uint32_t revision);
int proto_hello_decode(const uint8_t *p, size_t len, uint32_t *revision);
int proto_winsize_encode(struct proto_buf *b, uint16_t rows, uint16_t cols);
int proto_winsize_decode(const uint8_t *p, size_t len, uint16_t *rows,
			 uint16_t *cols);
int proto_restored_encode(struct proto_buf *b, const struct proto_restored *r);
int proto_restored_decode(const uint8_t *p, size_t len, struct proto_restored *r);

#endif
