/*
 * The host side of the guest console: a bounded buffer drained by one
 * writer thread. A vCPU that writes a byte never blocks on the console
 * file (a full pipe, a stopped terminal); when the buffer is full the
 * byte is dropped and counted instead, so a flooding guest can neither
 * grow our memory nor stall itself.
 */
#ifndef AGENTBOX_CONSOLE_H
#define AGENTBOX_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

/*
 * Enough for a burst like a profiled boot's whole kernel log (about 100 KiB
 * with initcall_debug) while the writer thread waits for a CPU, as it does
 * on a loaded one-CPU host; pages are touched only as far as it fills.
 */
#define CONSOLE_BUF_SIZE	(256 * 1024)

struct console {
	int fd;
	pthread_mutex_t lock;
	/* The writer waits for data (or quit) on more. */
	pthread_cond_t more;
	/* Flushers wait on drained for an empty buffer and an idle writer. */
	pthread_cond_t drained;
	struct ring ring;
	uint64_t dropped;
	/* errno of the first failed write; output is discarded after it. */
	int write_err;
	/* The writer holds a chunk outside the lock. */
	bool busy;
	bool quit;
	bool started;
	pthread_t thread;
	uint8_t buf[CONSOLE_BUF_SIZE];
};

int console_init(struct console *c, int fd);
/* Does nothing while a writer console_stop() gave up on is alive. */
void console_destroy(struct console *c);
int console_start(struct console *c);

/* Queue bytes for the console; never blocks on the file. */
void console_write(struct console *c, const uint8_t *p, size_t n);

/* Wait until everything queued is written: 0, or -ETIMEDOUT. */
int console_flush(struct console *c, unsigned int timeout_ms);

/*
 * Flush, then end the writer. A writer stuck in write() after the timeout
 * is left alone (the process is about to exit); returns -ETIMEDOUT then.
 */
int console_stop(struct console *c, unsigned int timeout_ms);

/* Bytes lost to a full buffer or a failed write; *err the write's errno. */
uint64_t console_dropped(struct console *c, int *err);

#endif /* AGENTBOX_CONSOLE_H */
