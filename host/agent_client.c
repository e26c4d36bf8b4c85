/*
 * The host's agent client: dialing (a raw stream, or a Firecracker-style
 * hybrid vsock socket with its CONNECT handshake), the HELLO exchange, and
 * the pump that moves each channel's bytes under the protocol's windows.
 * Nothing here buffers more than one window per channel and direction.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "agent_client.h"

#define VSOCK_PREFIX	"vsock:"
#define POLL_MAX	(1 + 3 * PROTO_CHANNEL_MAX)
#define HELLO_RESEND_MS	1000
/* The guest does RESTORED's work at once; no answer by then is a hung agent. */
#define RESTORED_TIMEOUT_MS	10000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_unix(const char *path, int64_t deadline)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(int);
	int fd, err = 0;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = errno == EAGAIN || errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -errno;
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
			err = -err;
	}
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Firecracker's hybrid vsock: "CONNECT <port>\n", answered "OK <x>\n". */
static int vsock_handshake(int fd, int64_t deadline, char *why, size_t cap)
{
	char line[64];
	size_t len = 0;
	ssize_t n;
	int err;

	len = snprintf(line, sizeof(line), "CONNECT %u\n", PROTO_VSOCK_PORT);
	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno;
	for (len = 0; len < sizeof(line) - 1; len++) {
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
		n = read(fd, line + len, 1);
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		if (line[len] == '\n')
			break;
	}
	line[len] = '\0';
	if (strncmp(line, "OK ", 3) != 0) {
		snprintf(why, cap, "vsock handshake refused: '%.40s'", line);
		return -ECONNREFUSED;
	}
	return 0;
}

/*
 * SPEC is a unix socket path: the raw stream of QEMU's virtio-console
 * chardev; or "vsock:PATH": the loader's hybrid vsock socket, which needs
 * the CONNECT handshake first. Returns the fd or -errno with WHY set.
 */
int agent_dial(const char *spec, int timeout_ms, char *why, size_t cap)
{
	bool vsock = strncmp(spec, VSOCK_PREFIX, strlen(VSOCK_PREFIX)) == 0;
	const char *path = vsock ? spec + strlen(VSOCK_PREFIX) : spec;
	int64_t deadline = now_ms() + timeout_ms;
	int fd, err;

	why[0] = '\0';
	fd = connect_unix(path, deadline);
	if (fd < 0) {
		snprintf(why, cap, "%s: %s", path, strerror(-fd));
		return fd;
	}
	if (vsock) {
		err = vsock_handshake(fd, deadline, why, cap);
		if (err) {
			if (!why[0])
				snprintf(why, cap, "%s: vsock handshake: %s", path, strerror(-err));
			close(fd);
			return err;
		}
	}
	return fd;
}

static int flush_all(struct agent_session *s, int64_t deadline)
{
	int err;

	while (s->wire.tx_len) {
		err = wire_flush(&s->wire);
		if (err)
			return err;
		if (s->wire.tx_len && (err = wait_fd(s->wire.fd, POLLOUT, deadline)))
			return err;
	}
	return 0;
}

static int hello(struct agent_session *s, int64_t deadline)
{
	const uint8_t *p;
	struct proto_hdr h;
	int n, err;

	int64_t resend = 0;

	/* Over the console port, frames meant for a previous client may come
	 * first; everything up to our HELLO's answer is theirs. A HELLO is
	 * repeated while unanswered: one sent while the guest still saw the
	 * previous client was seen to go unanswered; a repeat only restarts
	 * the still-empty session. */
	for (;;) {
		while (!wire_frame(&s->wire, &h, &p)) {
			if (now_ms() >= resend) {
				err = wire_send_u32(&s->wire, P_HELLO, 0, PROTO_MAGIC) ?:
				      flush_all(s, deadline);
				if (err)
					return err;
				resend = now_ms() + HELLO_RESEND_MS;
			}
			n = wire_fill(&s->wire);
			if (n < 0)
				return n == -EPIPE ? -ECONNRESET : n;
			if (n == 0 && (err = wait_fd(s->wire.fd, POLLIN, min64(deadline, resend))) &&
			    now_ms() >= deadline)
				return err;
		}
		if (h.type == P_HELLO && h.channel == 0)
			break;
		wire_consume(&s->wire);
	}
	err = proto_hello_decode(p, h.len, &s->revision) ? -EPROTO : 0;
	wire_consume(&s->wire);
	return err;
}

/* Takes FD; greets the agent within TIMEOUT_MS. */
struct agent_session *agent_session_new(int fd, int timeout_ms, char *why, size_t cap)
{
	struct agent_session *s = calloc(1, sizeof(*s));
	int err;

	if (!s) {
		snprintf(why, cap, "out of memory");
		close(fd);
		return NULL;
	}
	wire_init(&s->wire, fd);
	s->next_id = 1;
	err = hello(s, now_ms() + timeout_ms);
	if (err) {
		snprintf(why, cap, "no answer from the guest agent: %s%s", strerror(-err),
			 err == -ETIMEDOUT ? " (guest not booted, no agent, or another client connected)" : "");
		agent_session_free(s);
		return NULL;
	}
	return s;
}

static void chan_free(struct agent_chan *ch)
{
	free(ch->obuf);
	free(ch->ebuf);
	free(ch);
}

void agent_session_free(struct agent_session *s)
{
	unsigned int i;

	if (!s)
		return;
	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (s->chans[i])
			chan_free(s->chans[i]);
	close(s->wire.fd);
	free(s);
}

unsigned int agent_chan_count(const struct agent_session *s)
{
	unsigned int i, n = 0;

	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		n += s->chans[i] != NULL;
	return n;
}

static struct agent_chan *chan_new(struct agent_session *s, int in_fd, int out_fd,
				   int err_fd)
{
	struct agent_chan *ch;
	unsigned int i;

	for (i = 0; i < PROTO_CHANNEL_MAX && s->chans[i]; i++)
		;
	if (i == PROTO_CHANNEL_MAX || s->broken)
		return NULL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->obuf = malloc(PROTO_WINDOW);
	ch->ebuf = malloc(PROTO_WINDOW);
	if (!ch->obuf || !ch->ebuf) {
		chan_free(ch);
		return NULL;
	}
	ch->id = s->next_id++;
	if (!s->next_id)
		s->next_id = 1;
	ch->in_fd = in_fd;
	ch->out_fd = out_fd;
	ch->err_fd = err_fd;
	ch->in_done = in_fd < 0;
	ch->in_credit = PROTO_WINDOW;
	sha256_init(&ch->in_hash);
	sha256_init(&ch->out_hash);
	s->chans[i] = ch;
	return ch;
}

/* Opening frames are small and few; the send buffer always has room for
 * one unless the guest stopped reading, which breaks the session. */
static struct agent_chan *open_chan(struct agent_session *s, struct agent_chan *ch,
				    unsigned int type, const struct proto_buf *b)
{
	if (!ch)
		return NULL;
	if (wire_send(&s->wire, type, ch->id, b->p, b->len)) {
		agent_chan_release(s, ch);
		return NULL;
	}
	return ch;
}

/* ROWS and COLS size a TTY; 0 leaves the guest's default. */
struct agent_chan *agent_exec(struct agent_session *s, char *const argv[],
			      char *const envp[], const char *cwd, bool tty,
			      uint16_t rows, uint16_t cols,
			      int in_fd, int out_fd, int err_fd)
{
	static uint8_t buf[PROTO_PAYLOAD_MAX];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };
	struct agent_chan *ch;

	if (proto_exec_encode(&b, tty ? PROTO_EXEC_TTY : 0, rows, cols, cwd, argv, envp))
		return NULL;
	ch = open_chan(s, chan_new(s, in_fd, out_fd, err_fd), P_EXEC, &b);
	if (ch)
		ch->tty = tty;
	/* No input: the command's stdin reads end-of-file at once. */
	if (ch && in_fd < 0)
		wire_send(&s->wire, P_EOF_IN, ch->id, NULL, 0);
	return ch;
}

static struct agent_chan *path_chan(struct agent_session *s, struct agent_chan *ch,
				    unsigned int type, const uint32_t *mode,
				    const char *path)
{
	uint8_t buf[8 + PROTO_STR_MAX];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };

	if (mode)
		proto_put_u32(&b, *mode);
	proto_put_str(&b, path);
	if (b.bad) {
		if (ch)
			agent_chan_release(s, ch);
		return NULL;
	}
	return open_chan(s, ch, type, &b);
}

struct agent_chan *agent_put(struct agent_session *s, int local_fd, uint32_t mode,
			     const char *remote)
{
	struct agent_chan *ch = chan_new(s, local_fd, -1, -1);

	if (ch)
		ch->digest_in = true;
	return path_chan(s, ch, P_PUT, &mode, remote);
}

struct agent_chan *agent_get(struct agent_session *s, const char *remote, int local_fd)
{
	return path_chan(s, chan_new(s, -1, local_fd, -1), P_GET, NULL, remote);
}

struct agent_chan *agent_forward(struct agent_session *s, const char *remote, int sock_fd)
{
	struct agent_chan *ch = chan_new(s, sock_fd, sock_fd, -1);

	if (ch)
		ch->same_fd = true;
	return path_chan(s, ch, P_CONNECT, NULL, remote);
}

struct agent_chan *agent_request(struct agent_session *s, unsigned int type)
{
	struct proto_buf b = { 0 };

	return open_chan(s, chan_new(s, -1, -1, -1), type, &b);
}

int agent_signal(struct agent_session *s, struct agent_chan *ch, int sig)
{
	return ch->done ? 0 : wire_send_u32(&s->wire, P_SIGNAL, ch->id, sig);
}

/*
 * A TTY exec's new terminal size. An agent older than the revision that
 * added WINSIZE would end the whole session on the frame, so it gets none:
 * its command keeps the size it started with. -EOPNOTSUPP then.
 */
int agent_winsize(struct agent_session *s, struct agent_chan *ch, uint16_t rows,
		  uint16_t cols)
{
	uint8_t buf[PROTO_WINSIZE_SIZE];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };

	if (!ch->tty || s->revision < PROTO_REVISION_WINSIZE)
		return -EOPNOTSUPP;
	if (ch->done)
		return 0;
	proto_winsize_encode(&b, rows, cols);
	return wire_send(&s->wire, P_WINSIZE, ch->id, buf, b.len);
}

/* Forgets CH; a channel still running is closed in the guest too. */
void agent_chan_release(struct agent_session *s, struct agent_chan *ch)
{
	unsigned int i;

	if (!ch->done && !s->broken)
		wire_send(&s->wire, P_CLOSE, ch->id, NULL, 0);
	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (s->chans[i] == ch)
			s->chans[i] = NULL;
	chan_free(ch);
}

static void broken(struct agent_session *s, const char *why)
{
	if (!s->broken)
		snprintf(s->why, sizeof(s->why), "%s", why);
	s->broken = true;
}

static struct agent_chan *find(struct agent_session *s, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (s->chans[i] && s->chans[i]->id == id)
			return s->chans[i];
	return NULL;
}

static void on_data(struct agent_session *s, struct agent_chan *ch,
		    const struct proto_hdr *h, const uint8_t *p)
{
	bool out = h->type == P_DATA_OUT;
	uint8_t *buf = out ? ch->obuf : ch->ebuf;
	size_t *len = out ? &ch->olen : &ch->elen;
	int fd = out ? ch->out_fd : ch->err_fd;

	if (h->len > PROTO_WINDOW - *len) {
		broken(s, "the guest sent more than its window");
		return;
	}
	if (out)
		sha256_update(&ch->out_hash, p, h->len);
	if (fd < 0) {
		wire_send_u32(&s->wire, P_WINDOW, ch->id, h->len);
		return;
	}
	memcpy(buf + *len, p, h->len);
	*len += h->len;
}

static void on_error(struct agent_session *s, struct agent_chan *ch,
		     const struct proto_hdr *h, const uint8_t *p)
{
	struct proto_cursor cur = { .p = p, .len = h->len };
	char msg[PROTO_STR_MAX + 1];
	char why[AGENT_WHY_MAX];
	uint32_t err = proto_get_u32(&cur);

	if (proto_get_str(&cur, msg, sizeof(msg)))
		snprintf(msg, sizeof(msg), "malformed error reply");
	if (!ch) {
		snprintf(why, sizeof(why), "the guest agent ended the session: %.200s", msg);
		broken(s, why);
		return;
	}
	ch->err = err ? (int)err : EIO;
	snprintf(ch->msg, sizeof(ch->msg), "%.255s", msg);
	ch->done = true;
}

static void on_status(struct agent_chan *ch, const struct proto_hdr *h, const uint8_t *p)
{
	struct proto_cursor cur = { .p = p, .len = h->len };
	uint8_t digest[PROTO_SHA256_SIZE];

	switch (h->type) {
	case P_OPENED:
		ch->mode = proto_get_u32(&cur);
		ch->size = proto_get_u64(&cur);
		ch->opened = true;
		break;
	case P_EOF_OUT:
		ch->out_eof = true;
		if (h->len == PROTO_SHA256_SIZE) {
			sha256_final(&ch->out_hash, digest);
			ch->digest_ok = !memcmp(digest, p, sizeof(digest));
		}
		break;
	case P_EOF_ERR:
		ch->err_eof = true;
		break;
	case P_WINDOW:
		ch->in_credit += proto_get_u32(&cur);
		if (ch->in_credit > PROTO_WINDOW)
			ch->in_credit = PROTO_WINDOW;
		break;
	case P_EXIT:
		ch->exit_how = proto_get_u32(&cur);
		ch->exit_value = proto_get_u32(&cur);
		ch->done = true;
		break;
	}
}

static void on_frame(struct agent_session *s, const struct proto_hdr *h, const uint8_t *p)
{
	struct agent_chan *ch = h->channel ? find(s, h->channel) : NULL;

	if (h->type == P_ERROR) {
		on_error(s, h->channel ? ch : NULL, h, p);
		return;
	}
	/* Frames for a channel already released are moot, and so are the
	 * answers to a repeated HELLO. */
	if (!ch) {
		if (!h->channel && h->type != P_HELLO)
			broken(s, "unexpected frame from the guest agent");
		return;
	}
	if (h->type == P_DATA_OUT || h->type == P_DATA_ERR)
		on_data(s, ch, h, p);
	else
		on_status(ch, h, p);
}

static const char *read_failure(int err)
{
	if (err == -EPIPE)
		return "the guest closed the connection";
	if (wire_peer_gone(err))
		return "the connection to the guest was reset";
	return "bad frame from the guest agent";
}

static void read_wire(struct agent_session *s)
{
	const uint8_t *p;
	struct proto_hdr h;
	int n, frames;

	for (frames = 0; frames < 64 && !s->broken; ) {
		n = wire_fill(&s->wire);
		if (n < 0) {
			broken(s, read_failure(n));
			return;
		}
		if (wire_frame(&s->wire, &h, &p)) {
			on_frame(s, &h, p);
			wire_consume(&s->wire);
			frames++;
		} else if (n == 0) {
			return;
		}
	}
}

static void send_eof_in(struct agent_session *s, struct agent_chan *ch)
{
	uint8_t digest[PROTO_SHA256_SIZE];

	if (ch->digest_in) {
		sha256_final(&ch->in_hash, digest);
		wire_send(&s->wire, P_EOF_IN, ch->id, digest, sizeof(digest));
	} else {
		wire_send(&s->wire, P_EOF_IN, ch->id, NULL, 0);
	}
	ch->in_done = true;
}

static void read_local(struct agent_session *s, struct agent_chan *ch)
{
	static uint8_t buf[PROTO_CHUNK_MAX];
	size_t want = ch->in_credit < sizeof(buf) ? ch->in_credit : sizeof(buf);
	ssize_t n;

	if (!want || !wire_data_room(&s->wire))
		return;
	n = read(ch->in_fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		send_eof_in(s, ch);
		return;
	}
	sha256_update(&ch->in_hash, buf, n);
	ch->in_credit -= n;
	wire_send(&s->wire, P_DATA_IN, ch->id, buf, n);
}

/* A local sink that fails (a reader gone, a full disk) gets nothing more
 * and the first error is kept for the caller; the guest's credit still
 * comes back so its side never stalls. */
static void write_local(struct agent_session *s, struct agent_chan *ch, bool out)
{
	uint8_t *buf = out ? ch->obuf : ch->ebuf;
	size_t *len = out ? &ch->olen : &ch->elen;
	int fd = out ? ch->out_fd : ch->err_fd;
	int *failed = out ? &ch->out_errno : &ch->err_errno;
	ssize_t n = *len;

	if (!*failed) {
		n = write(fd, buf, *len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			*failed = errno;
			n = *len;
		}
	}
	memmove(buf, buf + n, *len - n);
	*len -= n;
	wire_send_u32(&s->wire, P_WINDOW, ch->id, n);
}

static void half_close(struct agent_chan *ch)
{
	if (ch->same_fd && ch->out_eof && !ch->olen && ch->out_fd >= 0) {
		shutdown(ch->out_fd, SHUT_WR);
		ch->out_eof = false;
		ch->same_fd = false;
	}
}

struct slot {
	struct agent_chan *ch;
	int what;	/* 0 in, 1 out, 2 err */
};

static unsigned int build(struct agent_session *s, struct pollfd *pfd, struct slot *slot)
{
	struct agent_chan *ch;
	unsigned int i, n = 1;

	pfd[0] = (struct pollfd){ .fd = s->wire.fd,
				  .events = POLLIN | (s->wire.tx_len ? POLLOUT : 0) };
	for (i = 0; i < PROTO_CHANNEL_MAX; i++) {
		ch = s->chans[i];
		if (!ch)
			continue;
		if (!ch->in_done && !ch->done && ch->in_credit && wire_data_room(&s->wire)) {
			pfd[n] = (struct pollfd){ .fd = ch->in_fd, .events = POLLIN };
			slot[n++] = (struct slot){ ch, 0 };
		}
		if (ch->olen) {
			pfd[n] = (struct pollfd){ .fd = ch->out_fd, .events = POLLOUT };
			slot[n++] = (struct slot){ ch, 1 };
		}
		if (ch->elen) {
			pfd[n] = (struct pollfd){ .fd = ch->err_fd, .events = POLLOUT };
			slot[n++] = (struct slot){ ch, 2 };
		}
	}
	return n;
}

/*
 * One round: poll the session's fds and EXTRA (whose revents the caller
 * reads afterwards), move what is ready. 0, or -EPIPE once the session is
 * broken (s->why says why).
 */
int agent_step(struct agent_session *s, struct pollfd *extra, unsigned int nextra,
	       int timeout_ms)
{
	struct pollfd pfd[POLL_MAX + 8];
	struct slot slot[POLL_MAX];
	unsigned int n, i;

	if (s->broken || nextra > 8)
		return -EPIPE;
	n = build(s, pfd, slot);
	memcpy(pfd + n, extra, nextra * sizeof(*extra));
	if (poll(pfd, n + nextra, timeout_ms) < 0 && errno != EINTR) {
		broken(s, strerror(errno));
		return -EPIPE;
	}
	memcpy(extra, pfd + n, nextra * sizeof(*extra));
	if (pfd[0].revents)
		read_wire(s);
	for (i = 1; i < n && !s->broken; i++) {
		if (!pfd[i].revents || !find(s, slot[i].ch->id))
			continue;
		if (slot[i].what == 0)
			read_local(s, slot[i].ch);
		else
			write_local(s, slot[i].ch, slot[i].what == 1);
	}
	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (s->chans[i])
			half_close(s->chans[i]);
	if (!s->broken && wire_flush(&s->wire) < 0)
		broken(s, "the connection to the guest broke");
	return s->broken ? -EPIPE : 0;
}

bool agent_chan_finished(const struct agent_chan *ch)
{
	return ch->done && !ch->olen && !ch->elen;
}

/* Runs the session until CH has finished and its output is written. */
int agent_wait(struct agent_session *s, struct agent_chan *ch)
{
	while (!agent_chan_finished(ch))
		if (agent_step(s, NULL, 0, -1))
			return -EPIPE;
	return 0;
}

/* Runs the session until CH has finished or DEADLINE (now_ms()) passes. */
static int wait_until(struct agent_session *s, struct agent_chan *ch, int64_t deadline)
{
	int64_t left;

	while (!agent_chan_finished(ch)) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (agent_step(s, NULL, 0, (int)left))
			return -EPIPE;
	}
	return 0;
}

static int host_seed(uint8_t seed[PROTO_SEED_SIZE])
{
	ssize_t n = getrandom(seed, PROTO_SEED_SIZE, 0);

	if (n < 0)
		return -errno;
	return n == PROTO_SEED_SIZE ? 0 : -EIO;
}

/* Sends RESTORED with the host's time taken as late as possible. */
static struct agent_chan *send_restored(struct agent_session *s, struct proto_restored *r)
{
	uint8_t buf[PROTO_RESTORED_SIZE];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };
	struct timespec ts;
	struct agent_chan *ch;

	clock_gettime(CLOCK_REALTIME, &ts);
	r->sec = ts.tv_sec;
	r->nsec = ts.tv_nsec;
	if (proto_restored_encode(&b, r))
		return NULL;
	ch = open_chan(s, chan_new(s, -1, -1, -1), P_RESTORED, &b);
	if (ch && wire_flush(&s->wire) < 0)
		broken(s, "the connection to the guest broke");
	return ch;
}

static int restored_result(struct agent_session *s, struct agent_chan *ch, int err,
			   char *why, size_t n)
{
	if (err == -ETIMEDOUT) {
		snprintf(why, n, "RESTORED: no answer from the guest agent in %d s",
			 RESTORED_TIMEOUT_MS / 1000);
		return err;
	}
	if (err) {
		snprintf(why, n, "RESTORED: %s", s->why);
		return err;
	}
	if (ch->err) {
		snprintf(why, n, "RESTORED failed in the guest: %s", ch->msg);
		return -ch->err;
	}
	if (ch->exit_how != PROTO_EXITED || ch->exit_value) {
		snprintf(why, n, "RESTORED: unexpected exit %d from the guest agent",
			 ch->exit_value);
		return -EPROTO;
	}
	return 0;
}

/*
 * After a restore from a snapshot: sets the guest's wall clock to the
 * host's and reseeds its RNG with fresh host bytes, so that clones of one
 * snapshot neither share a stale time nor random state. 0, or -errno with
 * WHY saying which step failed.
 */
int agent_restored(struct agent_session *s, char *why, size_t n)
{
	struct proto_restored r;
	struct agent_chan *ch;
	int err;

	err = host_seed(r.seed);
	if (err) {
		snprintf(why, n, "getrandom: %s", strerror(-err));
		return err;
	}
	ch = send_restored(s, &r);
	if (!ch) {
		snprintf(why, n, "RESTORED: %s", s->broken ? s->why : "no channel free");
		return s->broken ? -EPIPE : -ENOBUFS;
	}
	err = wait_until(s, ch, now_ms() + RESTORED_TIMEOUT_MS);
	err = restored_result(s, ch, err, why, n);
	agent_chan_release(s, ch);
	return err;
}
