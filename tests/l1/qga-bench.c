/*
 * The exec benchmark's helper (tests/l1/qga-bench.sh): a client of QEMU's
 * guest agent (qemu-ga) over its virtio-serial chardev socket, and a timer
 * for any command. One static binary, since the L1 has no QEMU tools.
 *
 *   qga-bench wait SOCK SECONDS      until qemu-ga answers guest-sync
 *   qga-bench exec SOCK PATH [ARG]...  one guest-exec on a fresh connection,
 *                                    polled with guest-exec-status until it
 *                                    exits; our status is the command's
 *   qga-bench loop SOCK N PATH       N such round trips on one connection;
 *                                    prints p50_ms= p99_ms=
 *   qga-bench stream SOCK BYTES      guest-exec of head -c BYTES /dev/zero
 *                                    with its output captured; prints mibps=
 *   qga-bench put SOCK LOCAL REMOTE  guest-file-open/write/close; mibps=
 *   qga-bench get SOCK REMOTE LOCAL  guest-file-open/read/close; mibps=
 *   qga-bench time N CMD [ARG]...    run CMD N times, each must exit 0;
 *                                    prints p50_ms= p99_ms=
 *
 * The protocol is QMP's JSON, one object a line. A fresh connection may
 * hold a previous client's half-sent request or unread answers, so every
 * session starts with a 0xff byte (qemu-ga resets its parser on it) and a
 * guest-sync-delimited, whose answer is preceded by 0xff: everything
 * before that byte is stale.
 *
 * Exits 0 on success, 125 with one line on stderr on a failure of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define FAILED		125
#define REPLY_TIMEOUT_MS 30000
/* Bytes per guest-file-write or -read: few round trips, small requests. */
#define FILE_CHUNK	(1 << 20)
#define RUNS_MAX	100000

struct qga {
	int fd;
	char *buf;		/* received, not yet taken */
	size_t len, cap;
	char *line;		/* the last reply taken, NUL-terminated */
};

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fputs("qga-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(FAILED);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static int fill(struct qga *q, int64_t deadline)
{
	struct pollfd p = { .fd = q->fd, .events = POLLIN };
	int64_t left = (deadline - now_ns()) / 1000000;
	ssize_t n;

	if (left <= 0 || poll(&p, 1, (int)left) == 0)
		return -ETIMEDOUT;
	if (q->cap - q->len < 65536) {
		q->cap = q->cap * 2 + 65536;
		q->buf = realloc(q->buf, q->cap + 1);
		if (!q->buf)
			return -ENOMEM;
	}
	n = read(q->fd, q->buf + q->len, q->cap - q->len);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	q->len += n;
	return 0;
}

/* Drops the line taken last; what follows it moves to the front. */
static void drop_taken(struct qga *q)
{
	size_t used;

	if (!q->line)
		return;
	used = strlen(q->line) + 1;
	memmove(q->buf, q->buf + used, q->len - used);
	q->len -= used;
	q->line = NULL;
}

/* The next line qemu-ga sends, in q->line. */
static int next_line(struct qga *q, int64_t deadline)
{
	char *nl;
	int err;

	drop_taken(q);
	while (!(q->buf && (nl = memchr(q->buf, '\n', q->len)))) {
		err = fill(q, deadline);
		if (err)
			return err;
	}
	*nl = '\0';
	q->line = q->buf;
	return 0;
}

/* Skips through the 0xff that comes before guest-sync-delimited's answer. */
static int skip_to_delimiter(struct qga *q, int64_t deadline)
{
	char *ff;
	size_t used;
	int err;

	drop_taken(q);
	while (!(q->buf && (ff = memchr(q->buf, 0xff, q->len)))) {
		q->len = 0;
		err = fill(q, deadline);
		if (err)
			return err;
	}
	used = ff + 1 - q->buf;
	memmove(q->buf, ff + 1, q->len - used);
	q->len -= used;
	return 0;
}

/* The number after "KEY": in the reply, or -1. */
static long long field_num(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static bool field_true(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	return !strncmp(p, "true", 4);
}

/* Sends one request and takes its reply; an "error" reply is fatal. */
static void request(struct qga *q, const char *json)
{
	int err = send_all(q->fd, json, strlen(json));

	if (!err)
		err = next_line(q, now_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000);
	if (err)
		die("%.60s: %s", json, strerror(-err));
	if (!strstr(q->line, "\"return\""))
		die("%.60s: %.200s", json, q->line);
}

static int sync_session(struct qga *q, int64_t deadline)
{
	char req[128];
	long long id = (now_ns() ^ getpid()) & 0x7fffffff;
	int err;

	snprintf(req, sizeof(req),
		 "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%lld}}\n", id);
	err = send_all(q->fd, req, strlen(req));
	while (!err) {
		err = skip_to_delimiter(q, deadline) ?: next_line(q, deadline);
		if (!err && field_num(q->line, "return") == id)
			return 0;
	}
	return err;
}

static void session_open(struct qga *q, const char *sock, int64_t deadline)
{
	int err;

	memset(q, 0, sizeof(*q));
	q->fd = connect_unix(sock);
	if (q->fd < 0)
		die("%s: %s", sock, strerror(-q->fd));
	err = sync_session(q, deadline);
	if (err)
		die("%s: guest-sync: %s", sock, strerror(-err));
}

static void session_close(struct qga *q)
{
	close(q->fd);
	free(q->buf);
}

/* A JSON string of S: the paths and arguments here need only these. */
static void json_str(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s && n + 3 < cap; s++) {
		if (*s == '"' || *s == '\\')
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n++] = '"';
	out[n] = '\0';
}

/* guest-exec, then guest-exec-status until it has exited; the exit code.
 * The reply with the exit code is left in q->line. */
static int run_once(struct qga *q, char *const argv[], bool capture, long *polls)
{
	char req[8192], s[1024];
	size_t n;
	long long pid;
	int i;

	n = snprintf(req, sizeof(req), "{\"execute\":\"guest-exec\",\"arguments\":{");
	json_str(s, sizeof(s), argv[0]);
	n += snprintf(req + n, sizeof(req) - n, "\"path\":%s,\"arg\":[", s);
	for (i = 1; argv[i] && n < sizeof(req) - 1100; i++) {
		json_str(s, sizeof(s), argv[i]);
		n += snprintf(req + n, sizeof(req) - n, "%s%s", i > 1 ? "," : "", s);
	}
	snprintf(req + n, sizeof(req) - n, "],\"capture-output\":%s}}\n",
		 capture ? "true" : "false");
	request(q, req);
	pid = field_num(q->line, "pid");
	if (pid <= 0)
		die("guest-exec: no pid in %.200s", q->line);
	snprintf(req, sizeof(req),
		 "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%lld}}\n", pid);
	/* No pause between polls: qemu-ga's best case. */
	do {
		request(q, req);
		(*polls)++;
	} while (!field_true(q->line, "exited"));
	return (int)field_num(q->line, "exitcode");
}

static long parse_count(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v <= 0 || v > max)
		die("%s: not a number from 1 to %ld", s, max);
	return v;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentiles, as tools/bench-agent takes them. */
static void print_percentiles(int64_t *ns, long n)
{
	qsort(ns, n, sizeof(*ns), cmp_i64);
	printf("p50_ms=%.2f p99_ms=%.2f\n", ns[(n + 1) / 2 - 1] / 1e6,
	       ns[(n * 99 + 99) / 100 - 1] / 1e6);
}

static void print_rate(uint64_t bytes, int64_t ns)
{
	printf("mibps=%.1f\n", bytes / 1048576.0 / (ns / 1e9));
}

static int cmd_wait(char *argv[])
{
	int64_t deadline = now_ns() + parse_count(argv[1], 86400) * 1000000000;
	struct qga q = { .fd = -1 };
	int fd, err;

	for (;;) {
		fd = connect_unix(argv[0]);
		if (fd >= 0) {
			q = (struct qga){ .fd = fd };
			err = sync_session(&q, now_ns() + 1000000000);
			session_close(&q);
			if (!err)
				return 0;
		}
		if (now_ns() > deadline)
			die("%s: no answer from qemu-ga in %s s", argv[0], argv[1]);
		usleep(200000);
	}
}

static int cmd_exec(char *argv[])
{
	struct qga q;
	long polls = 0;
	int status;

	session_open(&q, argv[0], now_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000);
	status = run_once(&q, argv + 1, false, &polls);
	session_close(&q);
	return status < 0 ? FAILED : status;
}

static int cmd_loop(char *argv[])
{
	long n = parse_count(argv[1], RUNS_MAX), i, polls = 0;
	int64_t *ns = calloc(n, sizeof(*ns)), t;
	struct qga q;

	if (!ns)
		die("out of memory");
	session_open(&q, argv[0], now_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000);
	for (i = 0; i < n; i++) {
		t = now_ns();
		if (run_once(&q, argv + 2, false, &polls))
			die("%s: nonzero exit", argv[2]);
		ns[i] = now_ns() - t;
	}
	session_close(&q);
	printf("polls_per_exec=%.1f ", (double)polls / n);
	print_percentiles(ns, n);
	return 0;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * Decodes the base64 string that follows "KEY": into OUT (which may be
 * NULL, to count only); the decoded length, or -1. QEMU's JSON writer
 * escapes '/' as "\/", so backslashes are skipped.
 */
static long b64_field(const char *line, const char *key, uint8_t *out)
{
	char pat[64];
	const char *p;
	uint32_t acc = 0;
	long len = 0;
	int bits = 0, v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p || !(p = strchr(p + strlen(pat), '"')))
		return -1;
	for (p++; *p && *p != '"'; p++) {
		v = b64_value(*p);
		if (v < 0)
			continue;
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (out)
				out[len] = acc >> bits;
			len++;
		}
	}
	return len;
}

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, n = 0;
	uint32_t v;

	for (i = 0; i < len; i += 3) {
		v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) |
		    (i + 2 < len ? in[i + 2] : 0);
		out[n++] = b64_chars[v >> 18 & 63];
		out[n++] = b64_chars[v >> 12 & 63];
		out[n++] = i + 1 < len ? b64_chars[v >> 6 & 63] : '=';
		out[n++] = i + 2 < len ? b64_chars[v & 63] : '=';
	}
	out[n] = '\0';
	return n;
}

static int cmd_stream(char *argv[])
{
	long bytes = parse_count(argv[1], 1L << 30), got, polls = 0;
	char count[32];
	char *args[] = { "/usr/bin/head", "-c", count, "/dev/zero", NULL };
	struct qga q;
	int64_t t;

	snprintf(count, sizeof(count), "%ld", bytes);
	session_open(&q, argv[0], now_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000);
	t = now_ns();
	if (run_once(&q, args, true, &polls))
		die("head: nonzero exit");
	got = b64_field(q.line, "out-data", NULL);
	t = now_ns() - t;
	if (got != bytes)
		die("stream: %ld bytes came back of %ld%s", got, bytes,
		    field_true(q.line, "out-truncated") ? " (qemu-ga truncated them)" : "");
	session_close(&q);
	print_rate(bytes, t);
	return 0;
}

static long long file_open(struct qga *q, const char *path, const char *mode)
{
	char req[1200], s[1024];
	long long handle;

	json_str(s, sizeof(s), path);
	snprintf(req, sizeof(req),
		 "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":%s,\"mode\":\"%s\"}}\n",
		 s, mode);
	request(q, req);
	handle = field_num(q->line, "return");
	if (handle < 0)
		die("guest-file-open %s: %.200s", path, q->line);
	return handle;
}

static void file_close(struct qga *q, long long handle)
{
	char req[128];

	snprintf(req, sizeof(req),
		 "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%lld}}\n", handle);
	request(q, req);
}

static uint64_t put_chunks(struct qga *q, int fd, long long handle)
{
	static uint8_t data[FILE_CHUNK];
	static char req[FILE_CHUNK / 3 * 4 + 256];
	uint64_t total = 0;
	ssize_t n;
	size_t len;

	while ((n = read(fd, data, sizeof(data))) > 0) {
		len = snprintf(req, sizeof(req),
			       "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":%lld,\"buf-b64\":\"",
			       handle);
		len += b64_encode(data, n, req + len);
		snprintf(req + len, sizeof(req) - len, "\"}}\n");
		request(q, req);
		if (field_num(q->line, "count") != n)
			die("guest-file-write: %.200s", q->line);
		total += n;
	}
	if (n < 0)
		die("read: %s", strerror(errno));
	return total;
}

static int cmd_put(char *argv[])
{
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	long long handle;
	uint64_t bytes;
	struct qga q;
	int64_t t;

	if (fd < 0)
		die("%s: %s", argv[1], strerror(errno));
	session_open(&q, argv[0], now_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000);
	t = now_ns();
	handle = file_open(&q, argv[2], "w");
	bytes = put_chunks(&q, fd, handle);
	file_close(&q, handle);
	t = now_ns() - t;
	session_close(&q);
	close(fd);
	print_rate(bytes, t);
	return 0;
}

static uint64_t get_chunks(struct qga *q, int fd, long long handle)
{
	static uint8_t data[FILE_CHUNK + 4];
	char req[160];
	uint64_t total = 0;
	long n;

	snprintf(req, sizeof(req),
		 "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%lld,\"count\":%d}}\n",
		 handle, FILE_CHUNK);
	do {
		request(q, req);
		n = b64_field(q->line, "buf-b64", data);
		if (n < 0 || n > FILE_CHUNK || n != field_num(q->line, "count"))
			die("guest-file-read: %.200s", q->line);
		if (write(fd, data, n) != n)
			die("write: %s", strerror(errno));
		total += n;
	} while (!field_true(q->line, "eof"));
	return total;
}

static int cmd_get(char *argv[])
{
	int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	long long handle;
	uint64_t bytes;
	struct qga q;
	int64_t t;

	if (fd < 0)
		die("%s: %s", argv[2], strerror(errno));
	session_open(&q, argv[0], now_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000);
	t = now_ns();
	handle = file_open(&q, argv[1], "r");
	bytes = get_chunks(&q, fd, handle);
	file_close(&q, handle);
	if (fsync(fd) < 0)
		die("fsync %s: %s", argv[2], strerror(errno));
	t = now_ns() - t;
	session_close(&q);
	close(fd);
	print_rate(bytes, t);
	return 0;
}

/* Every run is a fresh process, as a user's would be. */
static int64_t time_run(char *argv[])
{
	int64_t t = now_ns();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die("%s: failed (status %#x)", argv[0], status);
	return now_ns() - t;
}

static int cmd_time(char *argv[])
{
	long n = parse_count(argv[0], RUNS_MAX), i;
	int64_t *ns = calloc(n, sizeof(*ns));

	if (!ns)
		die("out of memory");
	for (i = 0; i < n; i++)
		ns[i] = time_run(argv + 1);
	print_percentiles(ns, n);
	return 0;
}

static const struct {
	const char *name;
	int min_args;
	int (*fn)(char *argv[]);
} commands[] = {
	{ "wait", 2, cmd_wait },
	{ "exec", 2, cmd_exec },
	{ "loop", 3, cmd_loop },
	{ "stream", 2, cmd_stream },
	{ "put", 3, cmd_put },
	{ "get", 3, cmd_get },
	{ "time", 2, cmd_time },
};

int main(int argc, char *argv[])
{
	size_t i;

	for (i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name) && argc - 2 >= commands[i].min_args)
			return commands[i].fn(argv + 2);
	die("usage: qga-bench wait|exec|loop|stream|put|get|time ... (see the source)");
}
