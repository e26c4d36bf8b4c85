/*
 * agentboxd: the guest agent. It serves the agent protocol (PROTOCOL.md) on
 * vsock port PROTO_VSOCK_PORT, one session per connection, and on the
 * virtio-console port named "agentbox.agent" when QEMU provides one, where
 * a single host connection carries every channel. The init starts it and
 * restarts it if it dies.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent.h"

#define PORT_NAME		"agentbox.agent"
#define PORT_CLASS		"/sys/class/virtio-ports"
/* How often a disconnected console port is checked for a new host. */
#define PORT_RECHECK_MS		100
#define READY_RECHECK_MS	100
#define FRAMES_PER_ROUND	64

_Static_assert(PROTO_VSOCK_PORT == AGENT_VSOCK_PORT, "one port in both headers");
#define POLL_MAX		(2 + AGENT_CONN_MAX * (1 + 3 * PROTO_CHANNEL_MAX))

/* <linux/vm_sockets.h>, which musl's toolchain does not ship. */
#define VMADDR_CID_ANY		0xffffffffu
struct sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[4];
};

enum slot_what { SLOT_SIGNAL, SLOT_LISTEN, SLOT_CONN, SLOT_IN, SLOT_OUT, SLOT_ERR };

struct slot {
	enum slot_what what;
	struct conn *conn;
	struct channel *ch;
};

struct agent {
	int sfd;
	int listen_fd;
	int port_fd;
	struct conn conns[AGENT_CONN_MAX];	/* conns[0]: the console port */
	struct pollfd pfd[POLL_MAX];
	struct slot slot[POLL_MAX];
	unsigned int npfd;
};

static struct agent agent;

static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	va_list ap;

	fputs("agentboxd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int listen_vsock(void)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = PROTO_VSOCK_PORT,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static bool port_is_ours(const char *dev)
{
	char path[300], name[64] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PORT_CLASS "/%s/name", dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, name, sizeof(name) - 1);
	close(fd);
	return n > 0 && strncmp(name, PORT_NAME "\n", n) == 0 &&
	       (size_t)n == sizeof(PORT_NAME);
}

/* No udev in the guest: the port is found by its name in sysfs. */
static int open_port(void)
{
	char path[300];
	struct dirent *d;
	DIR *dir = opendir(PORT_CLASS);
	int fd = -ENOENT;

	if (!dir)
		return -ENOENT;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || !port_is_ours(d->d_name))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", d->d_name);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	closedir(dir);
	return fd;
}

static void conn_drop_channels(struct conn *c)
{
	unsigned int i;

	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (c->chans[i])
			chan_free(c, c->chans[i]);
	c->greeted = false;
}

static void conn_reset(struct conn *c)
{
	conn_drop_channels(c);
	wire_reset(&c->wire);
	c->greeted = false;
	c->failed = false;
}

static void conn_close(struct conn *c)
{
	conn_reset(c);
	if (!c->serial)
		close(c->wire.fd);
	c->used = false;
}

static const char *fail_reason(int err)
{
	switch (err) {
	case -EPROTO: return "unsupported protocol version";
	case -EMSGSIZE: return "frame over the size limit";
	case -ENODATA: return "truncated frame";
	case -EOVERFLOW: return "data beyond the granted window";
	case -EBADSLT: return "channel id in use, zero, or too many channels";
	case -ENOMEM: return "out of memory";
	default: return "malformed frame";
	}
}

/* The stream cannot be trusted past a bad frame: say why, drop every
 * channel, and end the session once the reply is out. */
static void conn_fail(struct conn *c, int err)
{
	say("closing a session: %s", fail_reason(err));
	conn_drop_channels(c);
	wire_send_error(&c->wire, 0, err, fail_reason(err));
	c->failed = true;
}

static struct channel *find_chan(struct conn *c, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (c->chans[i] && c->chans[i]->id == id)
			return c->chans[i];
	return NULL;
}

/* The answer tells the client which later frames (WINSIZE) it may send. */
static int hello(struct conn *c, const struct proto_hdr *h, const uint8_t *p)
{
	uint8_t buf[PROTO_HELLO_REV_SIZE];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };
	uint32_t client_rev;

	if (h->type != P_HELLO || h->channel || proto_hello_decode(p, h->len, &client_rev))
		return -EBADMSG;
	c->greeted = true;
	proto_hello_encode(&b, PROTO_REVISION);
	return wire_send(&c->wire, P_HELLO, 0, buf, b.len);
}

static int dispatch(struct conn *c, const struct proto_hdr *h, const uint8_t *p)
{
	struct channel *ch;

	/*
	 * A HELLO starts a new session: over the console port a new host
	 * client can connect before the old one's hangup is seen here.
	 */
	if (h->type == P_HELLO && c->greeted)
		conn_drop_channels(c);
	if (!c->greeted || h->type == P_HELLO)
		return hello(c, h, p);
	switch (h->type) {
	case P_EXEC:
	case P_PUT:
	case P_GET:
	case P_CONNECT:
	case P_READY:
	case P_SHUTDOWN:
	case P_RESTORED:
		return chan_open(c, h, p);
	case P_DATA_IN:
	case P_EOF_IN:
	case P_WINDOW:
	case P_SIGNAL:
	case P_CLOSE:
	case P_WINSIZE:
		ch = find_chan(c, h->channel);
		/* Frames may cross an EXIT already sent; they are moot. */
		return ch ? chan_frame(c, ch, h, p) : 0;
	}
	return -EBADMSG;
}

static void conn_input(struct conn *c)
{
	const uint8_t *payload;
	struct proto_hdr h;
	int n, err, frames = 0;

	while (frames < FRAMES_PER_ROUND && wire_control_room(&c->wire)) {
		n = wire_fill(&c->wire);
		if (wire_peer_gone(n) || (n < 0 && c->failed)) {
			if (n != -EPIPE && !c->failed)
				say("ending a session, its connection broke: %s", strerror(-n));
			conn_close(c);
			return;
		}
		if (n < 0) {
			conn_fail(c, n);
			return;
		}
		if (c->failed) {
			wire_consume(&c->wire);
		} else if (wire_frame(&c->wire, &h, &payload)) {
			err = dispatch(c, &h, payload);
			wire_consume(&c->wire);
			frames++;
			if (err) {
				conn_fail(c, err);
				return;
			}
		} else if (n == 0) {
			return;
		}
	}
}

static void accept_conn(void)
{
	int fd = accept4(agent.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned int i;

	/* Never fatal: a connection reset while queued (a restored snapshot)
	 * fails here or at its first read, and the listener serves on. */
	if (fd < 0)
		return;
	for (i = 1; i < AGENT_CONN_MAX; i++) {
		if (!agent.conns[i].used) {
			agent.conns[i].used = true;
			agent.conns[i].serial = false;
			wire_init(&agent.conns[i].wire, fd);
			return;
		}
	}
	say("too many connections; refusing one");
	close(fd);
}

/* POLLHUP on a console port means no host is connected to its chardev. */
static bool port_host_connected(void)
{
	struct pollfd p = { .fd = agent.port_fd, .events = POLLIN };

	return poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
}

static void check_port(void)
{
	struct conn *c = &agent.conns[0];

	if (agent.port_fd < 0 || c->used || !port_host_connected())
		return;
	c->used = true;
	c->serial = true;
	wire_init(&c->wire, agent.port_fd);
}

static void add(int fd, short events, enum slot_what what, struct conn *c,
		struct channel *ch)
{
	agent.pfd[agent.npfd] = (struct pollfd){ .fd = fd, .events = events };
	agent.slot[agent.npfd] = (struct slot){ .what = what, .conn = c, .ch = ch };
	agent.npfd++;
}

static void add_channel(struct conn *c, struct channel *ch)
{
	bool room = wire_data_room(&c->wire) && ch->out_credit;

	if (ch->in_fd >= 0 && ch->in_len && !ch->in_broken)
		add(ch->in_fd, POLLOUT, SLOT_IN, c, ch);
	if (ch->out_fd >= 0 && room)
		add(ch->out_fd, POLLIN, SLOT_OUT, c, ch);
	if (ch->err_fd >= 0 && room)
		add(ch->err_fd, POLLIN, SLOT_ERR, c, ch);
}

static bool build_poll_set(void)
{
	bool waiting = false;
	unsigned int i, j;
	struct conn *c;
	short ev;

	agent.npfd = 0;
	add(agent.sfd, POLLIN, SLOT_SIGNAL, NULL, NULL);
	if (agent.listen_fd >= 0)
		add(agent.listen_fd, POLLIN, SLOT_LISTEN, NULL, NULL);
	for (i = 0; i < AGENT_CONN_MAX; i++) {
		c = &agent.conns[i];
		if (!c->used)
			continue;
		ev = (wire_control_room(&c->wire) ? POLLIN : 0) | (c->wire.tx_len ? POLLOUT : 0);
		add(c->wire.fd, ev, SLOT_CONN, c, NULL);
		for (j = 0; j < PROTO_CHANNEL_MAX; j++) {
			if (!c->chans[j])
				continue;
			add_channel(c, c->chans[j]);
			waiting |= c->chans[j]->kind == CHAN_READY;
		}
	}
	return waiting;
}

static struct channel *find_pid(pid_t pid, struct conn **owner)
{
	unsigned int i, j;
	struct channel *ch;

	for (i = 0; i < AGENT_CONN_MAX; i++) {
		for (j = 0; agent.conns[i].used && j < PROTO_CHANNEL_MAX; j++) {
			ch = agent.conns[i].chans[j];
			if (ch && ch->kind == CHAN_EXEC && ch->pid == pid && !ch->reaped) {
				*owner = &agent.conns[i];
				return ch;
			}
		}
	}
	return NULL;
}

static void reap(void)
{
	struct channel *ch;
	struct conn *c;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		ch = find_pid(pid, &c);
		if (ch)
			chan_reaped(c, ch, status);
	}
	exec_cgroups_sweep();
}

static void handle_signal(void)
{
	struct signalfd_siginfo si;

	if (read(agent.sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGCHLD) {
		reap();
		return;
	}
	say("received %s, exiting", strsignal(si.ssi_signo));
	exit(0);
}

static void conn_event(struct conn *c, short revents)
{
	if (!c->used)
		return;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_input(c);
	/* The console port: the host went away, its channels go with it. */
	if (c->used && c->serial && (revents & POLLHUP) && !port_host_connected())
		conn_close(c);
}

static void slot_event(const struct slot *s, short revents)
{
	struct channel *ch = s->ch;
	unsigned int i;

	if (s->what == SLOT_SIGNAL)
		return handle_signal();
	if (s->what == SLOT_LISTEN)
		return accept_conn();
	if (s->what == SLOT_CONN)
		return conn_event(s->conn, revents);
	/* The channel may have ended earlier in this round. */
	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (s->conn->chans[i] == ch)
			break;
	if (i == PROTO_CHANNEL_MAX)
		return;
	if (s->what == SLOT_IN)
		chan_pump_in(s->conn, ch);
	else
		chan_pump_out(s->conn, ch, s->what == SLOT_OUT ? ch->out_fd : ch->err_fd);
}

/*
 * Input that no poll event will move: dropped input of a reader that went
 * away, and an end of input that came after the last byte was written.
 */
static bool chan_in_idle(const struct channel *ch)
{
	return (ch->in_len && ch->in_broken) ||
	       (ch->in_eof && !ch->in_len && ch->in_fd >= 0);
}

/* After each round: flush, finish channels, and retire failed sessions. */
static void settle(void)
{
	unsigned int i, j;
	struct conn *c;

	for (i = 0; i < AGENT_CONN_MAX; i++) {
		c = &agent.conns[i];
		if (!c->used)
			continue;
		for (j = 0; j < PROTO_CHANNEL_MAX; j++) {
			if (c->chans[j] && chan_in_idle(c->chans[j]))
				chan_pump_in(c, c->chans[j]);
			if (c->chans[j])
				chan_check_done(c, c->chans[j]);
		}
		if (wire_flush(&c->wire) < 0)
			conn_close(c);
		else if (c->failed && !c->wire.tx_len && !c->serial)
			conn_close(c);
	}
}

static __attribute__((noreturn)) void serve(void)
{
	unsigned int i;
	bool waiting;
	int timeout;

	for (;;) {
		check_port();
		waiting = build_poll_set();
		timeout = -1;
		if (agent.port_fd >= 0 && !agent.conns[0].used)
			timeout = PORT_RECHECK_MS;
		if (waiting)
			timeout = READY_RECHECK_MS;
		if (poll(agent.pfd, agent.npfd, timeout) < 0 && errno != EINTR) {
			say("poll: %s", strerror(errno));
			exit(1);
		}
		for (i = 0; i < agent.npfd; i++)
			if (agent.pfd[i].revents)
				slot_event(&agent.slot[i], agent.pfd[i].revents);
		settle();
	}
}

static int setup(void)
{
	sigset_t set;
	int fd;

	/* Started from an fd, its name would be the fd's number. */
	prctl(PR_SET_NAME, "agentboxd");
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "-1000", 5) != 5)
		say("oom_score_adj -1000: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (mkdir(EXEC_CGROUP_DIR, 0755) < 0 && errno != EEXIST)
		say(EXEC_CGROUP_DIR ": %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	agent.sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (agent.sfd < 0)
		return -errno;
	return 0;
}

int main(void)
{
	int err = setup();

	if (err) {
		say("signalfd: %s", strerror(-err));
		return 1;
	}
	agent.listen_fd = listen_vsock();
	if (agent.listen_fd < 0)
		say("vsock port %d: %s", PROTO_VSOCK_PORT, strerror(-agent.listen_fd));
	agent.port_fd = open_port();
	if (agent.listen_fd < 0 && agent.port_fd < 0) {
		say("no vsock and no " PORT_NAME " console port; nothing to serve");
		return 1;
	}
	say("serving on%s%s", agent.listen_fd >= 0 ? " vsock" : "",
	    agent.port_fd >= 0 ? " " PORT_NAME : "");
	serve();
}
