#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control.h"

/* How long a connected client may take to send its command. */
#define CONTROL_CLIENT_MS	1000

static int set_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

int control_open(struct control *c, const char *path, char *why,
		 size_t why_size)
{
	struct sockaddr_un sa;
	int err;

	c->fd = -1;
	c->path = path;
	if (set_addr(&sa, path)) {
		snprintf(why, why_size, "--control %s: longer than %zu bytes",
			 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->fd, 4) < 0)
		goto fail;
	return 0;
fail:
	err = -errno;
	snprintf(why, why_size, "--control %s: %s", path, strerror(errno));
	control_close(c);
	return err;
}

void control_close(struct control *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	unlink(c->path);
}

/* Up to the newline, within the deadline; the line is NUL-terminated. */
static int read_line(int fd, char *line, size_t cap, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	while (len + 1 < cap) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = read(fd, line + len, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		if (line[len] == '\n') {
			line[len] = '\0';
			return 0;
		}
		len++;
	}
	return -EMSGSIZE;
}

int control_accept(struct control *c, int *client, char *line, size_t cap)
{
	int err;

	*client = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
	if (*client < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	err = read_line(*client, line, cap, CONTROL_CLIENT_MS);
	if (err) {
		close(*client);
		*client = -1;
	}
	return err;
}

void control_reply(int client, const char *fmt, ...)
{
	char buf[CONTROL_LINE_MAX];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if (len > (int)sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	/* A client that left early loses its answer; the VM goes on. */
	send(client, buf, len, MSG_NOSIGNAL);
}

int control_call(const char *path, const char *cmd, int timeout_ms,
		 char *reply, size_t cap)
{
	struct sockaddr_un sa;
	int fd, err;

	if (set_addr(&sa, path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    dprintf(fd, "%s\n", cmd) < 0) {
		err = -errno;
		goto close_fd;
	}
	err = read_line(fd, reply, cap, timeout_ms);
	if (!err && strncmp(reply, "ok", 2))
		err = -EREMOTEIO;
close_fd:
	close(fd);
	return err;
}
