/*
 * boot-meter: time a VMM's guest boot from the host side, and measure the
 * VMM's own memory. The loader benchmark (tests/l1/tests.sh) runs agentbox
 * and QEMU under it, so both are timed by one clock in one way.
 *
 *   boot-meter RAM_MIB SECONDS CONSOLE_FILE COMMAND [ARG...]
 *
 * Runs COMMAND with its stdout and stderr (the guest console) on a pipe,
 * copies them to CONSOLE_FILE, and stamps the init's "agentbox: phase=init"
 * and "agentbox: phase=dockerd-ready" lines with the time since launch.
 * At dockerd-ready it reads /proc/PID/smaps, then sends SIGTERM; SIGKILL
 * follows if COMMAND is still there after SECONDS in all, or 30 s after
 * SIGTERM. Prints one line of key=value pairs, "?" for what it never saw:
 *   status                  COMMAND's exit status (128+N: killed by signal N)
 *   init_wall ready_wall    seconds from launch to the line on the console
 *   init_guest ready_guest  the init's own t= (guest time since boot)
 *   rss_kib                 the VMM's resident memory, all of it
 *   ram_kib                 of that, the guest RAM mapping's
 *   over_anon_kib over_file_kib  the rest (anonymous, file or shared)
 *
 * Guest RAM is one mapping at least RAM_MIB large in both VMMs (agentbox
 * maps it in one piece below 3 GiB; QEMU has one RAM block), so what the
 * VMM itself costs is everything else.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TERM_GRACE_MS	30000
#define LINE_MAX_LEN	4096

struct memory {
	unsigned long rss_kib;
	unsigned long anon_kib;
	unsigned long ram_size_kib;
	unsigned long ram_rss_kib;
	unsigned long ram_anon_kib;
};

struct meter {
	pid_t pid;
	int fd;
	FILE *console;
	unsigned long ram_kib;
	double start;
	double init_wall, ready_wall;
	char init_guest[32], ready_guest[32];
	struct memory mem;
	bool have_mem;
	char line[LINE_MAX_LEN];
	size_t len;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int spawn(struct meter *m, char **argv)
{
	int p[2];

	if (pipe(p) < 0)
		return -errno;
	m->start = now();
	m->pid = fork();
	if (m->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (m->pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "boot-meter: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	m->fd = p[0];
	return 0;
}

/* One smaps mapping ends where the next header line begins. */
static void end_mapping(struct memory *mem, unsigned long size,
			unsigned long rss, unsigned long anon)
{
	mem->rss_kib += rss;
	mem->anon_kib += anon;
	if (size > mem->ram_size_kib) {
		mem->ram_size_kib = size;
		mem->ram_rss_kib = rss;
		mem->ram_anon_kib = anon;
	}
}

static int read_memory(pid_t pid, struct memory *mem)
{
	unsigned long size = 0, rss = 0, anon = 0, v;
	char path[64], buf[512], key[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(mem, 0, sizeof(*mem));
	while (fgets(buf, sizeof(buf), f)) {
		if (sscanf(buf, "%63s %lu kB", key, &v) != 2) {
			end_mapping(mem, size, rss, anon);
			size = rss = anon = 0;
		} else if (!strcmp(key, "Size:")) {
			size = v;
		} else if (!strcmp(key, "Rss:")) {
			rss = v;
		} else if (!strcmp(key, "Anonymous:")) {
			anon = v;
		}
	}
	end_mapping(mem, size, rss, anon);
	fclose(f);
	return 0;
}

/* "agentbox: phase=NAME t=SECONDS", from the start of the line only. */
static bool phase_line(const char *line, const char *name, char *t, size_t n)
{
	static const char prefix[] = "agentbox: phase=";
	size_t len = strlen(name);

	if (strncmp(line, prefix, sizeof(prefix) - 1))
		return false;
	line += sizeof(prefix) - 1;
	if (strncmp(line, name, len) || strncmp(line + len, " t=", 3))
		return false;
	snprintf(t, n, "%.*s", (int)strcspn(line + len + 3, " \r\n"),
		 line + len + 3);
	return true;
}

static void on_line(struct meter *m)
{
	double t = now() - m->start;

	if (m->init_wall < 0 &&
	    phase_line(m->line, "init", m->init_guest, sizeof(m->init_guest)))
		m->init_wall = t;
	if (m->ready_wall < 0 &&
	    phase_line(m->line, "dockerd-ready", m->ready_guest,
		       sizeof(m->ready_guest))) {
		m->ready_wall = t;
		m->have_mem = !read_memory(m->pid, &m->mem);
		kill(m->pid, SIGTERM);
	}
}

/* Returns false at end of file. */
static bool drain(struct meter *m)
{
	char buf[4096];
	ssize_t n;

	n = read(m->fd, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	fwrite(buf, 1, n, m->console);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && m->len < sizeof(m->line) - 1) {
			m->line[m->len++] = buf[i];
			continue;
		}
		if (buf[i] != '\n')
			continue;
		m->line[m->len] = '\0';
		on_line(m);
		m->len = 0;
	}
	return true;
}

/* Copy the console until the VMM closes it or runs out of time. */
static void watch(struct meter *m, double seconds)
{
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
	double deadline = m->start + seconds;
	double left;

	for (;;) {
		if (m->ready_wall >= 0 &&
		    m->start + m->ready_wall + TERM_GRACE_MS / 1e3 < deadline)
			deadline = m->start + m->ready_wall + TERM_GRACE_MS / 1e3;
		left = deadline - now();
		if (left <= 0) {
			kill(m->pid, SIGKILL);
			return;
		}
		if (poll(&pfd, 1, (int)(left * 1e3) + 1) > 0 && !drain(m))
			return;
	}
}

/* The VMM's exit status, or -1 if it outlived SIGKILL's grace too. */
static int reap(pid_t pid)
{
	int status, i;

	for (i = 0; i < TERM_GRACE_MS / 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (i == TERM_GRACE_MS / 100) {
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid)
			return -1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void put_seconds(const char *key, double v)
{
	if (v < 0)
		printf("%s=? ", key);
	else
		printf("%s=%.3f ", key, v);
}

static void report(const struct meter *m, int status)
{
	const struct memory *mem = &m->mem;

	printf("status=%d ", status);
	put_seconds("init_wall", m->init_wall);
	put_seconds("ready_wall", m->ready_wall);
	printf("init_guest=%s ready_guest=%s ",
	       m->init_guest[0] ? m->init_guest : "?",
	       m->ready_guest[0] ? m->ready_guest : "?");
	if (!m->have_mem || mem->ram_size_kib < m->ram_kib) {
		printf("rss_kib=? ram_kib=? over_anon_kib=? over_file_kib=?\n");
		return;
	}
	printf("rss_kib=%lu ram_kib=%lu over_anon_kib=%lu over_file_kib=%lu\n",
	       mem->rss_kib, mem->ram_rss_kib,
	       mem->anon_kib - mem->ram_anon_kib,
	       (mem->rss_kib - mem->ram_rss_kib) -
	       (mem->anon_kib - mem->ram_anon_kib));
}

static int parse_ulong(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || *end || !*v)
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, unsigned long *ram_mib,
		      unsigned long *seconds)
{
	if (argc < 5) {
		fprintf(stderr, "usage: boot-meter RAM_MIB SECONDS CONSOLE_FILE COMMAND [ARG...]\n");
		return -EINVAL;
	}
	if (parse_ulong(argv[1], ram_mib)) {
		fprintf(stderr, "boot-meter: RAM_MIB %s: not a positive number\n", argv[1]);
		return -EINVAL;
	}
	if (parse_ulong(argv[2], seconds)) {
		fprintf(stderr, "boot-meter: SECONDS %s: not a positive number\n", argv[2]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct meter m = { .init_wall = -1, .ready_wall = -1 };
	unsigned long ram_mib, seconds;
	int status, err;

	if (parse_args(argc, argv, &ram_mib, &seconds))
		return 2;
	m.ram_kib = ram_mib * 1024;
	m.console = fopen(argv[3], "we");
	if (!m.console) {
		fprintf(stderr, "boot-meter: CONSOLE_FILE %s: %s\n", argv[3], strerror(errno));
		return 2;
	}
	err = spawn(&m, argv + 4);
	if (err) {
		fprintf(stderr, "boot-meter: cannot start %s: %s\n", argv[4], strerror(-err));
		fclose(m.console);
		return 2;
	}
	watch(&m, seconds);
	status = reap(m.pid);
	fclose(m.console);
	report(&m, status);
	return 0;
}
