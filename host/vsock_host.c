#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>

#include "vsock_host.h"

#define LISTEN_BACKLOG	16

static void set_sun(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

/* Whether something accepts connections on path right now. */
static bool listened_on(const char *path)
{
	struct sockaddr_un sa;
	bool live;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	set_sun(&sa, path);
	live = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return live;
}

/* So a dry run catches a socket that could not be created. */
static int check_dir(const char *path, char *why, size_t n)
{
	char dir[VSOCK_PATH_MAX + 1];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(why, n, "%s: directory %s: %s", path, dir,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * A socket file nobody listens on is what a killed run leaves behind;
 * take it over. Anything else at the path is someone else's.
 */
static int check_path(const char *path, char *why, size_t n)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return check_dir(path, why, n);
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, n, "%s: exists and is not a socket", path);
		return -EEXIST;
	}
	if (listened_on(path)) {
		snprintf(why, n, "%s: in use (another process listens on it)",
			 path);
		return -EADDRINUSE;
	}
	return 0;
}

static int epoll_add(struct virtio_vsock *v, int fd, uint32_t events,
		     uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(v->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int vsock_host_listen(struct virtio_vsock *v, bool check_only, char *why,
		      size_t n)
{
	struct sockaddr_un sa;
	int err, fd;

	err = check_path(v->path, why, n);
	if (err || check_only)
		return err;
	unlink(v->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	set_sun(&sa, v->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		goto close_fd;
	v->listen_fd = fd;
	err = epoll_add(v, fd, EPOLLIN | EPOLLET, VSOCK_EV_LISTEN);
	if (err) {
		snprintf(why, n, "%s: epoll: %s", v->path, strerror(-err));
		return err;
	}
	return 0;

close_fd:
	err = -errno;
	close(fd);
	snprintf(why, n, "%s: %s", v->path, strerror(-err));
	return err;
fail:
	snprintf(why, n, "%s: %s", v->path, strerror(errno));
	return -errno;
}

struct vsock_conn *vsock_conn_new(struct virtio_vsock *v, int fd,
				  enum vsock_state state)
{
	struct vsock_conn *c = NULL;
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS && !c; i++)
		if (v->conn[i].state == VSOCK_FREE)
			c = &v->conn[i];
	if (!c)
		goto close_fd;
	memset(c, 0, sizeof(*c));
	c->buf = malloc(VSOCK_HOST_BUF);
	if (!c->buf)
		goto close_fd;
	c->fd = fd;
	c->state = state;
	/* Edge-triggered: assume ready until a call says EAGAIN. */
	c->can_read = true;
	c->can_write = true;
	if (epoll_add(v, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		      VSOCK_EV_CONN + (c - v->conn)))
		goto free_buf;
	return c;

free_buf:
	free(c->buf);
	c->buf = NULL;
	c->state = VSOCK_FREE;
close_fd:
	close(fd);
	return NULL;
}

void vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
	(void)v;
	if (c->state == VSOCK_FREE)
		return;
	/* Closing the fd takes it out of the epoll set. */
	close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

struct vsock_conn *vsock_conn_find(struct virtio_vsock *v, uint32_t host_port,
				   uint32_t guest_port)
{
	struct vsock_conn *c;
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		c = &v->conn[i];
		if (c->state != VSOCK_FREE && c->state != VSOCK_HANDSHAKE &&
		    c->host_port == host_port && c->guest_port == guest_port)
			return c;
	}
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

void vsock_host_accept(struct virtio_vsock *v)
{
	struct vsock_conn *c;
	int fd;

	while (v->can_accept) {
		fd = accept4(v->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				v->can_accept = false;
			continue;
		}
		/* At the cap the client sees its connection closed at once. */
		c = vsock_conn_new(v, fd, VSOCK_HANDSHAKE);
		if (c)
			c->deadline_ms = now_ms() + v->handshake_ms;
	}
}

void vsock_host_expire(struct virtio_vsock *v)
{
	uint64_t now = now_ms();
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conn[i].state == VSOCK_HANDSHAKE &&
		    v->conn[i].deadline_ms <= now)
			vsock_conn_free(v, &v->conn[i]);
}

int vsock_host_wait_ms(const struct virtio_vsock *v, int timeout_ms)
{
	uint64_t now = now_ms(), left;
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		if (v->conn[i].state != VSOCK_HANDSHAKE)
			continue;
		left = v->conn[i].deadline_ms > now ?
		       v->conn[i].deadline_ms - now : 0;
		if (timeout_ms < 0 || left < (uint64_t)timeout_ms)
			timeout_ms = left;
	}
	return timeout_ms;
}

int vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	size_t i = sizeof(verb) - 1;
	uint64_t p = 0;

	if (len <= i || memcmp(line, verb, i))
		return -EINVAL;
	for (; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EINVAL;
		p = p * 10 + (line[i] - '0');
		if (p > UINT32_MAX)
			return -EINVAL;
	}
	*port = p;
	return 0;
}

int vsock_host_read_line(struct vsock_conn *c, uint32_t *port)
{
	ssize_t n;
	char ch;

	while (c->can_read) {
		n = read(c->fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			c->can_read = false;
			return 0;
		}
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		if (ch == '\n')
			return vsock_parse_connect(c->line, c->line_len, port) ?
			       -EINVAL : 1;
		if (c->line_len == VSOCK_LINE_MAX)
			return -E2BIG;
		c->line[c->line_len++] = ch;
	}
	return 0;
}

int vsock_host_connect(const struct virtio_vsock *v, uint32_t port)
{
	struct sockaddr_un sa;
	int fd, err;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->path, port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * A unix connect completes at once or fails at once; EAGAIN (a full
	 * backlog) is a refusal here, since the guest retries if it wants.
	 */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int vsock_host_flush(struct vsock_conn *c)
{
	uint32_t used = vsock_buffered(c);
	uint32_t off = c->fwd_cnt % VSOCK_HOST_BUF;
	uint32_t first = VSOCK_HOST_BUF - off;
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov };
	ssize_t n;

	while (used && c->can_write) {
		first = first < used ? first : used;
		iov[0] = (struct iovec){ c->buf + off, first };
		iov[1] = (struct iovec){ c->buf, used - first };
		msg.msg_iovlen = used > first ? 2 : 1;
		/* A closed peer is an error to report, not a SIGPIPE. */
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			c->can_write = false;
			break;
		}
		if (n < 0)
			return -errno;
		c->fwd_cnt += n;
		used -= n;
		off = c->fwd_cnt % VSOCK_HOST_BUF;
		first = VSOCK_HOST_BUF - off;
	}
	return 0;
}
