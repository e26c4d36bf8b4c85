/*
 * The control socket of a running VM (--control SOCK): a client connects,
 * writes one command line, reads one reply line, and is gone.
 *
 *   pause | resume | snapshot DIR | stop
 *   -> "ok[ detail]\n" or "error: reason\n"
 *
 * The main thread serves it between its other events, one client at a
 * time; a client that does not send its line within a second is dropped,
 * so none can hold the VMM up.
 */
#ifndef AGENTBOX_CONTROL_H
#define AGENTBOX_CONTROL_H

#include <stddef.h>

#include "compiler.h"

#define CONTROL_LINE_MAX	4096

struct control {
	int fd;
	const char *path;
};

/* Listen on path, replacing a stale socket there. */
int control_open(struct control *c, const char *path, char *why,
		 size_t why_size);
void control_close(struct control *c);

/*
 * Accept one client and read its command into line (without the
 * newline): 0 with *client open, or -errno (-EAGAIN: nobody was there).
 */
int control_accept(struct control *c, int *client, char *line, size_t cap);

__printf(2, 3) void control_reply(int client, const char *fmt, ...);

/*
 * The client side: send cmd to the VM's socket and put its reply, less
 * the newline, in reply. 0 if the VM said ok, -EREMOTEIO if it said no.
 */
int control_call(const char *path, const char *cmd, int timeout_ms,
		 char *reply, size_t cap);

#endif /* AGENTBOX_CONTROL_H */
