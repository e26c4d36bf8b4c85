/* The guest agent's connections and channels (agentboxd.c, channel.c). */
#ifndef AGENTBOX_AGENT_H
#define AGENTBOX_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentbox-abi.h"
#include "sha256.h"
#include "wire.h"

#define AGENT_CONN_MAX		16
#define EXEC_CGROUP_DIR		WORKLOAD_CGROUP_DIR "/agentbox-exec"

enum chan_kind {
	CHAN_EXEC,
	CHAN_PUT,
	CHAN_GET,
	CHAN_CONNECT,
	CHAN_READY,
};

struct channel {
	uint32_t id;
	enum chan_kind kind;
	int in_fd;		/* where DATA_IN goes: stdin, a socket */
	int out_fd;		/* what DATA_OUT carries: stdout, a file, a socket */
	int err_fd;
	int file_fd;		/* PUT: the temporary file */
	uint8_t *inbuf;		/* DATA_IN not yet written, at most PROTO_WINDOW */
	size_t in_len;
	bool in_eof;		/* EOF_IN received */
	uint32_t out_credit;
	pid_t pid;
	bool tty;		/* EXEC: in_fd and out_fd are its pty's master */
	bool reaped;
	int status;
	struct sha256 hash;
	uint8_t want[PROTO_SHA256_SIZE];	/* PUT: the sender's digest */
	bool in_broken;		/* the reader went away; input is dropped */
	char path[PATH_MAX];
	char tmp[PATH_MAX];
};

struct conn {
	bool used;
	bool serial;		/* the virtio-console port: one for all */
	bool greeted;		/* HELLO exchanged */
	bool failed;		/* fatal error sent: drain, then close */
	struct channel *chans[PROTO_CHANNEL_MAX];
	struct wire wire;
};

/* channel.c */
int chan_open(struct conn *c, const struct proto_hdr *h, const uint8_t *p);
int chan_frame(struct conn *c, struct channel *ch, const struct proto_hdr *h,
	       const uint8_t *p);
void chan_free(struct conn *c, struct channel *ch);
void chan_pump_in(struct conn *c, struct channel *ch);
void chan_pump_out(struct conn *c, struct channel *ch, int fd);
void chan_reaped(struct conn *c, struct channel *ch, int status);
void chan_check_done(struct conn *c, struct channel *ch);
void exec_cgroups_sweep(void);

#endif
