/*
 * Channels of the guest agent: an exec'd command, a file being put or got,
 * a forwarded unix-socket connection, a readiness wait. Each moves bytes
 * between guest fds and the connection under the protocol's credit windows,
 * so no channel ever holds more than PROTO_WINDOW bytes of input.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "agent.h"

/* <linux/random.h>, which musl's toolchain does not ship. */
#define RNDADDENTROPY	_IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG	_IO('R', 0x07)

struct entropy_input {
	int entropy_count;	/* bits to credit */
	int buf_size;
	uint8_t buf[PROTO_SEED_SIZE];
};

/* A terminal size of 0 on the wire means the host does not know one. */
#define TTY_ROWS_DEFAULT	24
#define TTY_COLS_DEFAULT	80

extern char **environ;

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void exec_cgroup_path(char *out, size_t cap, pid_t pid, const char *file)
{
	snprintf(out, cap, EXEC_CGROUP_DIR "/%d%s%s", (int)pid, file ? "/" : "", file ? file : "");
}

/* Everything the command started dies with it, even what left its session. */
static void exec_cgroup_kill(pid_t pid)
{
	char path[96];

	exec_cgroup_path(path, sizeof(path), pid, "cgroup.kill");
	if (write_text(path, "1"))
		kill(-pid, SIGKILL);
}

/* Emptied cgroups can only be removed once the kernel has seen their last
 * process go, which is after the reap; so every reap sweeps them all. */
void exec_cgroups_sweep(void)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir = opendir(EXEC_CGROUP_DIR);

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), EXEC_CGROUP_DIR "/%s", d->d_name);
		rmdir(path);
	}
	closedir(dir);
}

void chan_free(struct conn *c, struct channel *ch)
{
	unsigned int i;

	if (ch->kind == CHAN_EXEC && ch->pid > 0 && !ch->reaped)
		exec_cgroup_kill(ch->pid);
	if (ch->in_fd != ch->file_fd)
		close_fd(&ch->in_fd);
	close_fd(&ch->out_fd);
	close_fd(&ch->err_fd);
	close_fd(&ch->file_fd);
	if (ch->tmp[0])
		unlink(ch->tmp);
	for (i = 0; i < PROTO_CHANNEL_MAX; i++)
		if (c->chans[i] == ch)
			c->chans[i] = NULL;
	free(ch->inbuf);
	free(ch);
}

static void chan_error(struct conn *c, struct channel *ch, int err, const char *what)
{
	char msg[PATH_MAX + 64];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err < 0 ? -err : err));
	wire_send_error(&c->wire, ch->id, err, msg);
	chan_free(c, ch);
}

static void send_exit(struct conn *c, struct channel *ch, uint32_t how, uint32_t value)
{
	uint8_t buf[8];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };

	proto_put_u32(&b, how);
	proto_put_u32(&b, value);
	wire_send(&c->wire, P_EXIT, ch->id, buf, b.len);
	chan_free(c, ch);
}

static void send_opened(struct conn *c, struct channel *ch, uint32_t v, uint64_t size)
{
	uint8_t buf[12];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };

	proto_put_u32(&b, v);
	proto_put_u64(&b, size);
	wire_send(&c->wire, P_OPENED, ch->id, buf, b.len);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static void join_exec_cgroup(void)
{
	char path[96];

	exec_cgroup_path(path, sizeof(path), getpid(), NULL);
	mkdir(path, 0755);
	exec_cgroup_path(path, sizeof(path), getpid(), "cgroup.procs");
	write_text(path, "0");
}

static __attribute__((noreturn)) void exec_child(struct proto_exec *e, int fds[3],
						  int fail_fd)
{
	sigset_t none;
	int err, i;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	join_exec_cgroup();
	/* The agent is protected from the OOM killer; its commands are not. */
	write_text("/proc/self/oom_score_adj", "0");
	if (e->flags & PROTO_EXEC_TTY)
		ioctl(fds[0], TIOCSCTTY, 0);
	for (i = 0; i < 3; i++)
		dup2(fds[i], i);
	if (e->cwd[0] && chdir(e->cwd) < 0)
		goto fail;
	execvpe(e->argv[0], e->argv, e->envc ? e->envp : environ);
fail:
	err = errno;
	(void)!write(fail_fd, &err, sizeof(err));
	_exit(127);
}

/* The guest-side ends: fds[] for the child, the rest kept in ch. */
static int exec_fds(struct channel *ch, const struct proto_exec *e, int fds[3])
{
	struct winsize ws = {
		.ws_row = e->rows ?: TTY_ROWS_DEFAULT,
		.ws_col = e->cols ?: TTY_COLS_DEFAULT,
	};
	int in[2], out[2], err[2], master, slave;

	if (e->flags & PROTO_EXEC_TTY) {
		if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
			return -errno;
		fcntl(master, F_SETFD, FD_CLOEXEC);
		ch->tty = true;
		ch->in_fd = master;
		ch->out_fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
		fds[0] = fds[1] = fds[2] = slave;
		return set_nonblock(master);
	}
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0)
		goto close_in;
	if (pipe2(err, O_CLOEXEC) < 0)
		goto close_out;
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	ch->err_fd = err[0];
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = err[1];
	set_nonblock(in[1]);
	set_nonblock(out[0]);
	set_nonblock(err[0]);
	return 0;

close_out:
	close(out[0]);
	close(out[1]);
close_in:
	close(in[0]);
	close(in[1]);
	return -errno;
}

static void close_child_fds(int fds[3])
{
	close(fds[0]);
	if (fds[1] != fds[0])
		close(fds[1]);
	if (fds[2] != fds[0])
		close(fds[2]);
}

/* The child reports a failed chdir or exec through a close-on-exec pipe, so
 * "no such command" is an error reply, not an exit status. */
static int exec_spawn(struct channel *ch, struct proto_exec *e)
{
	int fds[3], fail[2], err, child_err;
	ssize_t n;

	err = exec_fds(ch, e, fds);
	if (err)
		return err;
	if (pipe2(fail, O_CLOEXEC) < 0) {
		err = -errno;
		close_child_fds(fds);
		return err;
	}
	ch->pid = fork();
	if (ch->pid == 0)
		exec_child(e, fds, fail[1]);
	err = ch->pid < 0 ? -errno : 0;
	close_child_fds(fds);
	close(fail[1]);
	if (!err) {
		n = read(fail[0], &child_err, sizeof(child_err));
		if (n == sizeof(child_err)) {
			waitpid(ch->pid, NULL, 0);
			ch->reaped = true;
			err = -child_err;
		}
	}
	close(fail[0]);
	return err;
}

static int exec_open(struct conn *c, struct channel *ch, const uint8_t *p, size_t len)
{
	struct proto_exec *e = malloc(sizeof(*e));
	int err;

	if (!e)
		return -ENOMEM;
	err = proto_exec_decode(p, len, e);
	if (err) {
		free(e);
		return err;
	}
	err = exec_spawn(ch, e);
	if (err)
		chan_error(c, ch, err, e->cwd[0] && err == -ENOENT && access(e->cwd, F_OK) ?
			   e->cwd : e->argv[0]);
	else
		send_opened(c, ch, ch->pid, 0);
	free(e);
	return 0;
}

static void put_open(struct conn *c, struct channel *ch, uint32_t mode)
{
	int fd;

	snprintf(ch->tmp, sizeof(ch->tmp), "%.4000s.agentbox-XXXXXX", ch->path);
	fd = mkostemp(ch->tmp, O_CLOEXEC);
	if (fd < 0) {
		ch->tmp[0] = '\0';
		chan_error(c, ch, -errno, ch->path);
		return;
	}
	fchmod(fd, mode);
	ch->file_fd = ch->in_fd = fd;
	sha256_init(&ch->hash);
	send_opened(c, ch, mode, 0);
}

static void get_open(struct conn *c, struct channel *ch)
{
	struct stat st;
	int fd = open(ch->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		chan_error(c, ch, -errno, ch->path);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		chan_error(c, ch, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, ch->path);
		return;
	}
	ch->out_fd = fd;
	sha256_init(&ch->hash);
	send_opened(c, ch, st.st_mode & 07777, st.st_size);
}

static void connect_open(struct conn *c, struct channel *ch)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(ch->path) >= sizeof(addr.sun_path)) {
		chan_error(c, ch, -ENAMETOOLONG, ch->path);
		return;
	}
	strcpy(addr.sun_path, ch->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (fd >= 0)
			close(fd);
		chan_error(c, ch, -errno, ch->path);
		return;
	}
	set_nonblock(fd);
	ch->out_fd = fd;
	ch->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	send_opened(c, ch, 0, 0);
}

/* Mixes SEED into the input pool, credited in full, then rekeys the crng
 * from that pool: without the reseed, every clone of one snapshot would go
 * on with the same crng key until the kernel's next scheduled reseed. */
static int reseed_rng(const uint8_t seed[PROTO_SEED_SIZE], const char **step)
{
	struct entropy_input in = {
		.entropy_count = PROTO_SEED_SIZE * 8,
		.buf_size = PROTO_SEED_SIZE,
	};
	int fd, err = 0;

	*step = "/dev/urandom";
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memcpy(in.buf, seed, sizeof(in.buf));
	*step = "RNDADDENTROPY";
	if (ioctl(fd, RNDADDENTROPY, &in) < 0)
		err = -errno;
	if (!err) {
		*step = "RNDRESEEDCRNG";
		if (ioctl(fd, RNDRESEEDCRNG) < 0)
			err = -errno;
	}
	close(fd);
	return err;
}

/* The guest resumed from a snapshot: its wall clock stopped at the snapshot
 * and its random state is shared with every other clone of it. */
static int restored_open(struct conn *c, struct channel *ch, const uint8_t *p,
			 size_t len)
{
	struct proto_restored r;
	struct timespec ts;
	const char *step = "clock_settime";
	int err;

	if (proto_restored_decode(p, len, &r))
		return -EBADMSG;
	ts.tv_sec = r.sec;
	ts.tv_nsec = r.nsec;
	err = clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
	if (!err)
		err = reseed_rng(r.seed, &step);
	if (err)
		chan_error(c, ch, err, step);
	else
		send_exit(c, ch, PROTO_EXITED, 0);
	return 0;
}

static struct channel *chan_new(struct conn *c, const struct proto_hdr *h)
{
	struct channel *ch;
	unsigned int i, slot = PROTO_CHANNEL_MAX;

	for (i = 0; i < PROTO_CHANNEL_MAX; i++) {
		if (c->chans[i] && c->chans[i]->id == h->channel)
			return NULL;
		if (!c->chans[i] && slot == PROTO_CHANNEL_MAX)
			slot = i;
	}
	if (slot == PROTO_CHANNEL_MAX || h->channel == 0)
		return NULL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->id = h->channel;
	ch->in_fd = ch->out_fd = ch->err_fd = ch->file_fd = -1;
	ch->out_credit = PROTO_WINDOW;
	c->chans[slot] = ch;
	return ch;
}

/* 0, or -errno for a request so malformed the connection must end. */
int chan_open(struct conn *c, const struct proto_hdr *h, const uint8_t *p)
{
	struct channel *ch = chan_new(c, h);
	uint32_t mode = 0;

	if (!ch)
		return -EBADSLT;
	switch (h->type) {
	case P_EXEC:
		ch->kind = CHAN_EXEC;
		return exec_open(c, ch, p, h->len);
	case P_RESTORED:
		/* Answered at once, like SHUTDOWN: never waits on anything. */
		ch->kind = CHAN_READY;
		return restored_open(c, ch, p, h->len);
	case P_READY:
	case P_SHUTDOWN:
		ch->kind = CHAN_READY;
		if (h->len)
			return -EBADMSG;
		if (h->type == P_SHUTDOWN) {
			send_exit(c, ch, PROTO_EXITED, 0);
			wire_flush(&c->wire);
			kill(1, SIGTERM);
		}
		return 0;
	}
	ch->kind = h->type == P_PUT ? CHAN_PUT : h->type == P_GET ? CHAN_GET : CHAN_CONNECT;
	if (proto_path_decode(p, h->len, &mode, h->type == P_PUT, ch->path, sizeof(ch->path)))
		return -EBADMSG;
	if (h->type == P_PUT)
		put_open(c, ch, mode);
	else if (h->type == P_GET)
		get_open(c, ch);
	else
		connect_open(c, ch);
	return 0;
}

static int data_in(struct channel *ch, const uint8_t *p, size_t len)
{
	if (ch->kind == CHAN_GET || ch->kind == CHAN_READY || ch->in_eof)
		return -EBADMSG;
	if (len > PROTO_WINDOW - ch->in_len)
		return -EOVERFLOW;
	if (!ch->inbuf) {
		ch->inbuf = malloc(PROTO_WINDOW);
		if (!ch->inbuf)
			return -ENOMEM;
	}
	memcpy(ch->inbuf + ch->in_len, p, len);
	ch->in_len += len;
	if (ch->kind == CHAN_PUT)
		sha256_update(&ch->hash, p, len);
	return 0;
}

static int eof_in(struct channel *ch, const uint8_t *p, size_t len)
{
	if (ch->in_eof || (ch->kind == CHAN_PUT && len != PROTO_SHA256_SIZE) ||
	    (ch->kind != CHAN_PUT && len))
		return -EBADMSG;
	ch->in_eof = true;
	if (len)
		memcpy(ch->want, p, len);
	return 0;
}

/*
 * The kernel sends the command's foreground group SIGWINCH. Either master
 * fd will do; once both are closed the command's output is over and a
 * late size is moot.
 */
static int winsize(struct channel *ch, const uint8_t *p, size_t len)
{
	struct winsize ws = { 0 };
	int fd = ch->out_fd >= 0 ? ch->out_fd : ch->in_fd;

	if (ch->kind != CHAN_EXEC || !ch->tty ||
	    proto_winsize_decode(p, len, &ws.ws_row, &ws.ws_col))
		return -EBADMSG;
	ws.ws_row = ws.ws_row ?: TTY_ROWS_DEFAULT;
	ws.ws_col = ws.ws_col ?: TTY_COLS_DEFAULT;
	if (fd >= 0)
		ioctl(fd, TIOCSWINSZ, &ws);
	return 0;
}

/* 0, or -errno when the peer broke the protocol on this channel. */
int chan_frame(struct conn *c, struct channel *ch, const struct proto_hdr *h,
	       const uint8_t *p)
{
	struct proto_cursor cur = { .p = p, .len = h->len };
	uint32_t v;

	switch (h->type) {
	case P_DATA_IN:
		return data_in(ch, p, h->len);
	case P_EOF_IN:
		return eof_in(ch, p, h->len);
	case P_CLOSE:
		chan_free(c, ch);
		return 0;
	case P_WINSIZE:
		return winsize(ch, p, h->len);
	}
	v = proto_get_u32(&cur);
	if (!proto_cursor_done(&cur))
		return -EBADMSG;
	if (h->type == P_WINDOW) {
		if (v > 2 * PROTO_WINDOW - ch->out_credit)
			return -EOVERFLOW;
		ch->out_credit += v;
		return 0;
	}
	if (h->type != P_SIGNAL || ch->kind != CHAN_EXEC || v == 0 || v >= 65)
		return -EBADMSG;
	if (!ch->reaped)
		kill(ch->pid, v);
	return 0;
}

/* The last of a PUT: the digest must match before the file takes its name. */
static void put_finish(struct conn *c, struct channel *ch)
{
	uint8_t got[PROTO_SHA256_SIZE];

	sha256_final(&ch->hash, got);
	if (memcmp(got, ch->want, sizeof(got))) {
		chan_error(c, ch, -EIO, "checksum mismatch");
		return;
	}
	if (fsync(ch->file_fd) < 0 || rename(ch->tmp, ch->path) < 0) {
		chan_error(c, ch, -errno, ch->path);
		return;
	}
	ch->tmp[0] = '\0';
	send_exit(c, ch, PROTO_EXITED, 0);
}

static void in_done(struct conn *c, struct channel *ch)
{
	if (ch->kind == CHAN_PUT) {
		put_finish(c, ch);
		return;
	}
	/* A socket's other direction stays open: half-close only. */
	shutdown(ch->in_fd, SHUT_WR);
	close_fd(&ch->in_fd);
	chan_check_done(c, ch);
}

/* Writes buffered input to the guest fd and returns its credit. */
void chan_pump_in(struct conn *c, struct channel *ch)
{
	ssize_t n = ch->in_len;

	if (ch->in_len && !ch->in_broken) {
		n = write(ch->in_fd, ch->inbuf, ch->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			if (ch->kind == CHAN_PUT) {
				chan_error(c, ch, -errno, ch->path);
				return;
			}
			ch->in_broken = true;
			n = ch->in_len;
		}
	}
	if (n > 0) {
		memmove(ch->inbuf, ch->inbuf + n, ch->in_len - n);
		ch->in_len -= n;
		wire_send_u32(&c->wire, P_WINDOW, ch->id, n);
	}
	if (ch->in_len == 0 && ch->in_eof && ch->in_fd >= 0)
		in_done(c, ch);
}

static void out_eof(struct conn *c, struct channel *ch, int fd)
{
	uint8_t digest[PROTO_SHA256_SIZE];

	if (fd == ch->err_fd) {
		wire_send(&c->wire, P_EOF_ERR, ch->id, NULL, 0);
		close_fd(&ch->err_fd);
	} else if (ch->kind == CHAN_GET) {
		sha256_final(&ch->hash, digest);
		wire_send(&c->wire, P_EOF_OUT, ch->id, digest, sizeof(digest));
		close_fd(&ch->out_fd);
	} else {
		wire_send(&c->wire, P_EOF_OUT, ch->id, NULL, 0);
		close_fd(&ch->out_fd);
	}
	chan_check_done(c, ch);
}

/* Reads one chunk, only as much as the peer has room for. */
void chan_pump_out(struct conn *c, struct channel *ch, int fd)
{
	static uint8_t buf[PROTO_CHUNK_MAX];
	size_t want = ch->out_credit < sizeof(buf) ? ch->out_credit : sizeof(buf);
	ssize_t n;

	if (!want || !wire_data_room(&c->wire))
		return;
	n = read(fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* A pty master reads EIO once the last slave is closed. */
	if (n <= 0) {
		out_eof(c, ch, fd);
		return;
	}
	if (ch->kind == CHAN_GET)
		sha256_update(&ch->hash, buf, n);
	ch->out_credit -= n;
	wire_send(&c->wire, fd == ch->err_fd ? P_DATA_ERR : P_DATA_OUT, ch->id, buf, n);
}

void chan_reaped(struct conn *c, struct channel *ch, int status)
{
	ch->reaped = true;
	ch->status = status;
	exec_cgroup_kill(ch->pid);
	chan_check_done(c, ch);
}

/* Sends the final frame once a channel has nothing left to move. */
void chan_check_done(struct conn *c, struct channel *ch)
{
	int st = ch->status;

	if (!wire_control_room(&c->wire))
		return;
	switch (ch->kind) {
	case CHAN_EXEC:
		if (!ch->reaped || ch->out_fd >= 0 || ch->err_fd >= 0)
			return;
		if (WIFSIGNALED(st))
			send_exit(c, ch, PROTO_SIGNALED, WTERMSIG(st));
		else
			send_exit(c, ch, PROTO_EXITED, WEXITSTATUS(st));
		return;
	case CHAN_GET:
		if (ch->out_fd < 0)
			send_exit(c, ch, PROTO_EXITED, 0);
		return;
	case CHAN_CONNECT:
		if (ch->out_fd < 0 && ch->in_fd < 0)
			send_exit(c, ch, PROTO_EXITED, 0);
		return;
	case CHAN_READY:
		if (access(DOCKERD_READY_FILE, F_OK) == 0)
			send_exit(c, ch, PROTO_EXITED, 0);
		return;
	case CHAN_PUT:
		return;
	}
}
