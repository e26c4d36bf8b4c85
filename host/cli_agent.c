/*
 * agentbox exec | cp | docker-socket | ready | shutdown | fixup: the host's
 * side of the guest agent, over SOCK: a QEMU virtio-console chardev socket,
 * or "vsock:PATH" for the loader's hybrid vsock socket. Every failure of our
 * own is one "agentbox: error:" line and exit status 125, so a command's
 * own status (which exec passes through) stays unambiguous.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent_client.h"
#include "cli_agent.h"
#include "log.h"

#define ENV_MAX		64
#define READY_TIMEOUT_S	120

const char cli_agent_usage[] =
	"  agentbox exec [--tty] [--cwd DIR] [--env K=V]... SOCK -- CMD [ARG]...\n"
	"      run CMD in the guest; stdio streamed, its exit status (128+N for\n"
	"      signal N) becomes ours; 125 is a failure of agentbox itself.\n"
	"      --tty: on a guest terminal sized like ours and resized with it;\n"
	"      our terminal is raw meanwhile (keys such as ^C go to CMD), and\n"
	"      SIGINT, SIGTERM or SIGHUP end agentbox, and CMD with it\n"
	"  agentbox cp SOCK LOCAL :REMOTE | agentbox cp SOCK :REMOTE LOCAL\n"
	"      copy a file in or out, SHA-256 checked, written atomically\n"
	"  agentbox docker-socket SOCK HOSTPATH\n"
	"      serve HOSTPATH; each connection reaches the guest's /run/docker.sock\n"
	"  agentbox ready SOCK [SECONDS]   wait until the guest's dockerd is ready\n"
	"  agentbox shutdown SOCK          power the guest off\n"
	"  agentbox fixup SOCK             after a restore from a snapshot: set the\n"
	"      guest's clock to the host's and reseed its RNG with host bytes\n"
	"  SOCK is QEMU's agent chardev socket (tools/run-qemu --agent), or\n"
	"  vsock:PATH for a Firecracker-style hybrid vsock socket (CONNECT 1024).\n";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s", msg);
	return CLI_EXIT_FAILED;
}

static struct agent_session *open_session(const char *spec)
{
	char why[AGENT_WHY_MAX];
	struct agent_session *s;
	int fd;

	fd = agent_dial(spec, AGENT_DIAL_TIMEOUT_MS, why, sizeof(why));
	if (fd < 0) {
		pr_err("agent socket %s", why);
		return NULL;
	}
	s = agent_session_new(fd, AGENT_DIAL_TIMEOUT_MS, why, sizeof(why));
	if (!s)
		pr_err("agent socket %s: %s", spec, why);
	return s;
}

static int exit_status(const struct agent_chan *ch)
{
	if (ch->exit_how == PROTO_SIGNALED)
		return 128 + ch->exit_value;
	return ch->exit_value & 0xff;
}

/* What a user sends to end an exec: forwarded to the command without
 * --tty, fatal to us with it (see tty_fatal()). */
static const int ending_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NR_ENDING_SIGNALS	(sizeof(ending_signals) / sizeof(ending_signals[0]))

static void ending_signal_set(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < NR_ENDING_SIGNALS; i++)
		sigaddset(set, ending_signals[i]);
}

static int signal_fd(void)
{
	sigset_t set;

	ending_signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/*
 * The user's terminal while an exec --tty has it raw. Everything that ends
 * agentbox restores it: the normal return, and the ending signals, whose
 * handler restores it and then dies of the signal as if never caught.
 */
static volatile sig_atomic_t raw_fd = -1;
static struct termios saved_mode;

static void tty_restore(void)
{
	if (raw_fd >= 0)
		tcsetattr(raw_fd, TCSADRAIN, &saved_mode);
	raw_fd = -1;
}

/* SA_RESETHAND and SA_NODEFER: the raise() kills at once. */
static void tty_fatal(int sig)
{
	tty_restore();
	raise(sig);
}

static int tty_make_raw(int fd)
{
	struct sigaction sa = {
		.sa_handler = tty_fatal,
		.sa_flags = SA_RESETHAND | SA_NODEFER,
	};
	struct termios raw;
	sigset_t fatal;
	size_t i;

	if (tcgetattr(fd, &saved_mode) < 0)
		return -errno;
	for (i = 0; i < NR_ENDING_SIGNALS; i++)
		sigaction(ending_signals[i], &sa, NULL);
	/* A caller may hand them down blocked (CI runners do): then a kill
	 * would wait until the command ends instead of ending us. */
	ending_signal_set(&fatal);
	sigprocmask(SIG_UNBLOCK, &fatal, NULL);
	raw = saved_mode;
	cfmakeraw(&raw);
	raw_fd = fd;
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0) {
		raw_fd = -1;
		return -errno;
	}
	return 0;
}

/* The host terminal whose size the guest's follows: stdin's, else stdout's. */
static int size_source(void)
{
	if (isatty(STDIN_FILENO))
		return STDIN_FILENO;
	return isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
}

static void term_size(int fd, uint16_t *rows, uint16_t *cols)
{
	struct winsize ws = { 0 };

	if (fd >= 0)
		ioctl(fd, TIOCGWINSZ, &ws);
	*rows = ws.ws_row;
	*cols = ws.ws_col;
}

/* --tty: only size changes come through the signalfd; see tty_fatal(). */
static int winch_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static void on_signal(struct agent_session *s, struct agent_chan *ch, int sfd)
{
	struct signalfd_siginfo si;
	uint16_t rows, cols;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo != SIGWINCH) {
		agent_signal(s, ch, si.ssi_signo);
		return;
	}
	term_size(size_source(), &rows, &cols);
	agent_winsize(s, ch, rows, cols);
}

/*
 * Output that could not be written here (a full disk) fails the exec, so
 * nobody takes a cut-off log for the whole one. A reader that went away
 * (EPIPE, as under `| head`) wanted no more: that is no failure.
 */
static bool output_lost(const struct agent_chan *ch)
{
	if (ch->out_errno && ch->out_errno != EPIPE)
		pr_err("exec: writing the command's stdout: %s", strerror(ch->out_errno));
	else if (ch->err_errno && ch->err_errno != EPIPE)
		pr_err("exec: writing the command's stderr: %s", strerror(ch->err_errno));
	else
		return false;
	return true;
}

/* Without --tty our signals go to the guest command, which decides how
 * to end; with it, they end us (the guest's terminal takes ^C as a key). */
static int run_exec(struct agent_session *s, struct agent_chan *ch, bool tty)
{
	struct pollfd sig = { .fd = tty ? winch_fd() : signal_fd(), .events = POLLIN };

	while (!agent_chan_finished(ch)) {
		if (agent_step(s, &sig, sig.fd >= 0, -1)) {
			tty_restore();
			return fail("exec: %s", s->why);
		}
		if (sig.revents)
			on_signal(s, ch, sig.fd);
	}
	/* Before any message of ours, or it would print raw. */
	tty_restore();
	if (ch->err) {
		pr_err("exec: %s", ch->msg);
		/* The shell's statuses for "not found" and "cannot run". */
		return ch->err == ENOENT ? 127 : 126;
	}
	return output_lost(ch) ? CLI_EXIT_FAILED : exit_status(ch);
}

/* A terminal on stdin goes raw only once the guest has the command. */
static int exec_session(struct agent_session *s, char *argv[], char *env[],
			const char *cwd, bool tty)
{
	struct agent_chan *ch;
	uint16_t rows = 0, cols = 0;
	int err;

	if (tty)
		term_size(size_source(), &rows, &cols);
	ch = agent_exec(s, argv, env, cwd, tty, rows, cols, STDIN_FILENO,
			STDOUT_FILENO, STDERR_FILENO);
	if (!ch)
		return fail("exec: command line over the protocol's limits");
	if (tty && isatty(STDIN_FILENO)) {
		err = tty_make_raw(STDIN_FILENO);
		if (err)
			pr_warn("exec: cannot make the terminal raw: %s", strerror(-err));
	}
	return run_exec(s, ch, tty);
}

static int cmd_exec(int argc, char *argv[])
{
	char *env[ENV_MAX + 1] = { NULL };
	const char *cwd = "", *spec;
	struct agent_session *s;
	int i = 1, nenv = 0, rc;
	bool tty = false;

	for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--tty") || !strcmp(argv[i], "-t"))
			tty = true;
		else if (!strcmp(argv[i], "--cwd") && i + 1 < argc)
			cwd = argv[++i];
		else if (!strcmp(argv[i], "--env") && i + 1 < argc && nenv < ENV_MAX)
			env[nenv++] = argv[++i];
		else
			return fail("exec: bad option '%s' (see 'agentbox --help')", argv[i]);
	}
	if (i + 2 >= argc || strcmp(argv[i + 1], "--"))
		return fail("exec: usage: agentbox exec [options] SOCK -- CMD [ARG]...");
	spec = argv[i];
	s = open_session(spec);
	if (!s)
		return CLI_EXIT_FAILED;
	rc = exec_session(s, argv + i + 2, env, cwd, tty);
	agent_session_free(s);
	return rc;
}

/* Runs a channel to its end; 0, or the status to exit with. */
static int finish(struct agent_session *s, struct agent_chan *ch, const char *what)
{
	if (!ch)
		return fail("%s: request over the protocol's limits", what);
	if (agent_wait(s, ch))
		return fail("%s: %s", what, s->why);
	if (ch->err)
		return fail("%s: %s", what, ch->msg);
	if (ch->exit_how != PROTO_EXITED || ch->exit_value)
		return fail("%s: failed in the guest", what);
	return 0;
}

static int cp_in(struct agent_session *s, const char *local, const char *remote)
{
	struct stat st;
	int fd, rc;

	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("cp: %s: %s", local, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail("cp: %s: not a regular file", local);
	}
	rc = finish(s, agent_put(s, fd, st.st_mode & 07777, remote), remote);
	close(fd);
	return rc;
}

static void local_target(char *out, size_t cap, const char *local, const char *remote)
{
	struct stat st;
	char copy[PATH_MAX];

	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(copy, sizeof(copy), "%s", remote);
		snprintf(out, cap, "%s/%s", local, basename(copy));
	} else {
		snprintf(out, cap, "%s", local);
	}
}

/* Into a temporary beside the target; it takes the name only when whole,
 * checked and on disk. */
static int cp_out(struct agent_session *s, const char *remote, const char *local)
{
	char target[PATH_MAX], tmp[PATH_MAX + 32];
	struct agent_chan *ch;
	int fd, rc;

	local_target(target, sizeof(target), local, remote);
	snprintf(tmp, sizeof(tmp), "%s.agentbox-XXXXXX", target);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return fail("cp: %s: %s", target, strerror(errno));
	ch = agent_get(s, remote, fd);
	rc = finish(s, ch, remote);
	if (!rc && ch->out_errno)
		rc = fail("cp: %s: %s", target, strerror(ch->out_errno));
	if (!rc && !ch->digest_ok)
		rc = fail("cp: %s: checksum mismatch", remote);
	if (!rc && (fchmod(fd, ch->mode & 07777) < 0 || fsync(fd) < 0 ||
		    rename(tmp, target) < 0))
		rc = fail("cp: %s: %s", target, strerror(errno));
	if (rc)
		unlink(tmp);
	close(fd);
	return rc;
}

static int cmd_cp(int argc, char *argv[])
{
	struct agent_session *s;
	bool in;
	int rc;

	if (argc != 4)
		return fail("cp: usage: agentbox cp SOCK LOCAL :REMOTE | SOCK :REMOTE LOCAL");
	in = argv[3][0] == ':';
	if (in == (argv[2][0] == ':'))
		return fail("cp: exactly one of '%s' and '%s' must be :REMOTE", argv[2], argv[3]);
	if (!(in ? argv[3] : argv[2])[1])
		return fail("cp: empty remote path");
	if (in && access(argv[2], R_OK) < 0)
		return fail("cp: %s: %s", argv[2], strerror(errno));
	s = open_session(argv[1]);
	if (!s)
		return CLI_EXIT_FAILED;
	rc = in ? cp_in(s, argv[2], argv[3] + 1) : cp_out(s, argv[2] + 1, argv[3]);
	agent_session_free(s);
	return rc;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	if (access(path, F_OK) == 0)
		return -EEXIST;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void accept_one(struct agent_session *s, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (!agent_forward(s, "/run/docker.sock", fd)) {
		pr_warn("docker-socket: %u connections open; refusing one",
			agent_chan_count(s));
		close(fd);
	}
}

static void reap_forwards(struct agent_session *s)
{
	struct agent_chan *ch;
	unsigned int i;

	for (i = 0; i < PROTO_CHANNEL_MAX; i++) {
		ch = s->chans[i];
		if (!ch || !agent_chan_finished(ch))
			continue;
		if (ch->err)
			pr_warn("docker-socket: guest: %s", ch->msg);
		close(ch->in_fd);
		agent_chan_release(s, ch);
	}
}

/* Serves until SIGINT or SIGTERM, or until the guest goes away. */
static int serve_docker(struct agent_session *s, int lfd, const char *path)
{
	struct pollfd extra[2] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = signal_fd(), .events = POLLIN },
	};

	for (;;) {
		if (agent_step(s, extra, 2, -1))
			return fail("docker-socket: %s", s->why);
		if (extra[1].revents) {
			unlink(path);
			return 0;
		}
		if (extra[0].revents)
			accept_one(s, lfd);
		reap_forwards(s);
	}
}

static int cmd_docker_socket(int argc, char *argv[])
{
	struct agent_session *s;
	int lfd, rc;

	if (argc != 3)
		return fail("docker-socket: usage: agentbox docker-socket SOCK HOSTPATH");
	lfd = listen_unix(argv[2]);
	if (lfd < 0)
		return fail("docker-socket: %s: %s", argv[2], strerror(-lfd));
	s = open_session(argv[1]);
	if (!s) {
		close(lfd);
		unlink(argv[2]);
		return CLI_EXIT_FAILED;
	}
	rc = serve_docker(s, lfd, argv[2]);
	unlink(argv[2]);
	close(lfd);
	agent_session_free(s);
	return rc;
}

static int cmd_ready(int argc, char *argv[])
{
	long timeout = READY_TIMEOUT_S, waited_ms = 0;
	struct agent_session *s;
	struct agent_chan *ch;
	char *end;
	int rc = 0;

	if (argc < 2 || argc > 3)
		return fail("ready: usage: agentbox ready SOCK [SECONDS]");
	if (argc == 3) {
		timeout = strtol(argv[2], &end, 10);
		if (*end || end == argv[2] || timeout <= 0 || timeout > 86400)
			return fail("ready: %s: not a number of seconds from 1 to 86400", argv[2]);
	}
	s = open_session(argv[1]);
	if (!s)
		return CLI_EXIT_FAILED;
	ch = agent_request(s, P_READY);
	while (ch && !agent_chan_finished(ch) && waited_ms < timeout * 1000) {
		if (agent_step(s, NULL, 0, 100)) {
			rc = fail("ready: %s", s->why);
			break;
		}
		waited_ms += 100;
	}
	if (!rc && (!ch || !agent_chan_finished(ch)))
		rc = fail("ready: dockerd not ready after %ld s", timeout);
	agent_session_free(s);
	return rc;
}

static int cmd_shutdown(int argc, char *argv[])
{
	struct agent_session *s;
	int rc;

	if (argc != 2)
		return fail("shutdown: usage: agentbox shutdown SOCK");
	s = open_session(argv[1]);
	if (!s)
		return CLI_EXIT_FAILED;
	rc = finish(s, agent_request(s, P_SHUTDOWN), "shutdown");
	agent_session_free(s);
	return rc;
}

static int cmd_fixup(int argc, char *argv[])
{
	char why[AGENT_WHY_MAX];
	struct agent_session *s;
	int err;

	if (argc != 2)
		return fail("fixup: usage: agentbox fixup SOCK");
	s = open_session(argv[1]);
	if (!s)
		return CLI_EXIT_FAILED;
	err = agent_restored(s, why, sizeof(why));
	agent_session_free(s);
	return err ? fail("fixup: %s", why) : 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
} commands[] = {
	{ "exec", cmd_exec },
	{ "cp", cmd_cp },
	{ "docker-socket", cmd_docker_socket },
	{ "ready", cmd_ready },
	{ "shutdown", cmd_shutdown },
	{ "fixup", cmd_fixup },
};

bool cli_agent_is_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return true;
	return false;
}

int cli_agent_main(int argc, char *argv[])
{
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, argv[0]))
			return commands[i].fn(argc, argv);
	return fail("%s: unknown command", argv[0]);
}
