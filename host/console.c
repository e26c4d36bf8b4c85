#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"

/* One write() per chunk; a console line rarely comes near it. */
#define CONSOLE_CHUNK	4096

int console_init(struct console *c, int fd)
{
	pthread_condattr_t attr;
	int err;

	c->fd = fd;
	c->dropped = 0;
	c->write_err = 0;
	c->busy = false;
	c->quit = false;
	c->started = false;
	ring_init(&c->ring, c->buf, sizeof(c->buf));
	err = pthread_mutex_init(&c->lock, NULL);
	if (err)
		return -err;
	/* Flush deadlines must not move when someone sets the clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	err = pthread_cond_init(&c->more, &attr);
	if (err)
		goto destroy_lock;
	err = pthread_cond_init(&c->drained, &attr);
	if (err)
		goto destroy_more;
	pthread_condattr_destroy(&attr);
	return 0;

destroy_more:
	pthread_cond_destroy(&c->more);
destroy_lock:
	pthread_condattr_destroy(&attr);
	pthread_mutex_destroy(&c->lock);
	return -err;
}

/* A writer still stuck in write() keeps its lock: leave both be. */
void console_destroy(struct console *c)
{
	if (c->started)
		return;
	pthread_cond_destroy(&c->drained);
	pthread_cond_destroy(&c->more);
	pthread_mutex_destroy(&c->lock);
}

/* A non-blocking fd we inherited (a shared terminal) must still drain. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			poll(&pfd, 1, -1);
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* Called and returns with c->lock held. */
static void write_chunk(struct console *c)
{
	uint8_t chunk[CONSOLE_CHUNK];
	size_t n;
	int err;

	n = ring_get(&c->ring, chunk, sizeof(chunk));
	if (c->write_err) {
		c->dropped += n;
		return;
	}
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	err = write_all(c->fd, chunk, n);
	pthread_mutex_lock(&c->lock);
	c->busy = false;
	if (err) {
		c->write_err = -err;
		c->dropped += n;
	}
}

static void *writer(void *arg)
{
	struct console *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (ring_empty(&c->ring) && !c->quit)
			pthread_cond_wait(&c->more, &c->lock);
		if (ring_empty(&c->ring))
			break;
		write_chunk(c);
		if (ring_empty(&c->ring))
			pthread_cond_broadcast(&c->drained);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int console_start(struct console *c)
{
	int err;

	err = pthread_create(&c->thread, NULL, writer, c);
	if (err)
		return -err;
	c->started = true;
	return 0;
}

void console_write(struct console *c, const uint8_t *p, size_t n)
{
	bool was_empty;
	size_t stored;

	pthread_mutex_lock(&c->lock);
	was_empty = ring_empty(&c->ring);
	stored = ring_put(&c->ring, p, n);
	c->dropped += n - stored;
	/* The writer only sleeps on an empty buffer. */
	if (was_empty && stored)
		pthread_cond_signal(&c->more);
	pthread_mutex_unlock(&c->lock);
}

static void deadline_after(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int console_flush(struct console *c, unsigned int timeout_ms)
{
	struct timespec deadline;
	int err = 0;

	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&c->lock);
	while ((!ring_empty(&c->ring) || c->busy) && !err) {
		if (!c->started)
			err = ETIMEDOUT;
		else
			err = pthread_cond_timedwait(&c->drained, &c->lock,
						     &deadline);
	}
	pthread_mutex_unlock(&c->lock);
	return err ? -ETIMEDOUT : 0;
}

int console_stop(struct console *c, unsigned int timeout_ms)
{
	int err;

	if (!c->started)
		return 0;
	err = console_flush(c, timeout_ms);
	pthread_mutex_lock(&c->lock);
	c->quit = true;
	pthread_cond_signal(&c->more);
	pthread_mutex_unlock(&c->lock);
	if (err)
		return err;
	pthread_join(c->thread, NULL);
	c->started = false;
	return 0;
}

uint64_t console_dropped(struct console *c, int *err)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->dropped;
	if (err)
		*err = c->write_err;
	pthread_mutex_unlock(&c->lock);
	return n;
}
