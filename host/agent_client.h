/*
 * Client side of the guest agent protocol (guest-agent/PROTOCOL.md): one
 * session over one byte stream, carrying channels that each tie local fds
 * to a guest command, file or socket. Shared by the CLI (cli_agent.c) and
 * the tests. Single-threaded: the caller drives it with agent_step().
 */
#ifndef AGENTBOX_AGENT_CLIENT_H
#define AGENTBOX_AGENT_CLIENT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"
#include "sha256.h"
#include "wire.h"

#define AGENT_DIAL_TIMEOUT_MS	10000
#define AGENT_WHY_MAX		320

struct agent_chan {
	uint32_t id;
	int in_fd;		/* local source of DATA_IN, or -1 */
	int out_fd;		/* local sink of DATA_OUT, or -1 to discard */
	int err_fd;		/* local sink of DATA_ERR, or -1 to discard */
	bool same_fd;		/* in_fd == out_fd, a socket: half-close it */
	bool tty;		/* an EXEC on a guest pty */
	bool digest_in;		/* send a SHA-256 with EOF_IN (PUT) */
	bool in_done;
	bool out_eof, err_eof;
	bool opened, done;
	uint32_t in_credit;
	uint8_t *obuf, *ebuf;	/* output waiting for a slow local fd */
	size_t olen, elen;
	struct sha256 in_hash, out_hash;
	bool digest_ok;		/* GET: the guest's digest matched */
	uint32_t mode;		/* from OPENED */
	uint64_t size;
	int exit_how;		/* PROTO_EXITED or PROTO_SIGNALED */
	int exit_value;
	int err;		/* from an ERROR reply: positive errno */
	/* The first failed write to out_fd, err_fd: positive errno. */
	int out_errno, err_errno;
	char msg[256];
};

struct agent_session {
	struct wire wire;
	struct agent_chan *chans[PROTO_CHANNEL_MAX];
	uint32_t next_id;
	uint32_t revision;	/* the agent's, from its HELLO */
	bool broken;
	char why[AGENT_WHY_MAX];
};

int agent_dial(const char *spec, int timeout_ms, char *why, size_t cap);
struct agent_session *agent_session_new(int fd, int timeout_ms, char *why, size_t cap);
void agent_session_free(struct agent_session *s);

struct agent_chan *agent_exec(struct agent_session *s, char *const argv[],
			      char *const envp[], const char *cwd, bool tty,
			      uint16_t rows, uint16_t cols,
			      int in_fd, int out_fd, int err_fd);
struct agent_chan *agent_put(struct agent_session *s, int local_fd, uint32_t mode,
			     const char *remote);
struct agent_chan *agent_get(struct agent_session *s, const char *remote, int local_fd);
struct agent_chan *agent_forward(struct agent_session *s, const char *remote, int sock_fd);
struct agent_chan *agent_request(struct agent_session *s, unsigned int type);
int agent_signal(struct agent_session *s, struct agent_chan *ch, int sig);
int agent_winsize(struct agent_session *s, struct agent_chan *ch, uint16_t rows,
		  uint16_t cols);
void agent_chan_release(struct agent_session *s, struct agent_chan *ch);
unsigned int agent_chan_count(const struct agent_session *s);

int agent_step(struct agent_session *s, struct pollfd *extra, unsigned int nextra,
	       int timeout_ms);
int agent_wait(struct agent_session *s, struct agent_chan *ch);
bool agent_chan_finished(const struct agent_chan *ch);

int agent_restored(struct agent_session *s, char *why, size_t n);

#endif
