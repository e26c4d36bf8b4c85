/*
 * The real agentbox binary end to end, on the fake /dev/kvm in
 * fake_kvm.c: start-up order and arguments of every ioctl, the run loop,
 * the exit statuses, console output and its bound, and the SIGTERM path.
 * Both the binary and the shim are found next to this test's build tree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "control.h"
#include "images.h"

#define SUITE		"vmm"
/* The ids a jailed test VMM drops to: nobody and nogroup. */
#define JAIL_ID		65534
#define OUT_MAX		8192
#define TIMEOUT_MS	30000

static char agentbox[PATH_MAX];
static char shim[PATH_MAX];
static char kernel[64];

struct result {
	int status;
	char out[OUT_MAX];
	char err[OUT_MAX];
	size_t out_len;
	size_t err_len;
};

struct plan {
	const char *guest;
	const char *extra[10];
	/* --kernel, if not the test's own image (a path inside a jail). */
	const char *kernel;
	/* FAKE_KVM_ESCAPE: the forbidden call vCPU 0 makes. */
	const char *escape;
	/*
	 * Send SIGTERM this many times once stdout shows trigger: guest
	 * output proves the VMM is past blocking the signal.
	 */
	const char *trigger;
	int signals;
	/* Leave stdout unread, like a console nobody drains. */
	bool stall_stdout;
	/* Once stdout shows trigger, send these to the --control socket. */
	const char *control;
	const char *commands[3];
	char replies[3][CONTROL_LINE_MAX];
	/* "agentbox restore DIR" instead of "run". */
	const char *restore;
	/* Once stdout shows trigger, before the commands: look at the VMM. */
	void (*inspect)(struct check *c, pid_t pid, const struct plan *p);
	struct check *c;
	/* For inspect: a directory the test made. */
	const char *dir;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child(const struct plan *p, int out, int err)
{
	char *argv[24];
	int i = 0, j;

	dup2(out, 1);
	dup2(err, 2);
	close(0);
	open("/dev/null", O_RDONLY);
	setenv("LD_PRELOAD", shim, 1);
	/* Only the shim answers this path; never the real /dev/kvm. */
	setenv("AGENTBOX_KVM_DEVICE", "/nonexistent/agentbox-fake-kvm", 1);
	setenv("FAKE_KVM_GUEST", p->guest, 1);
	if (p->escape)
		setenv("FAKE_KVM_ESCAPE", p->escape, 1);
	argv[i++] = agentbox;
	if (p->restore) {
		argv[i++] = "restore";
		argv[i++] = (char *)p->restore;
	} else {
		argv[i++] = "run";
		argv[i++] = "--kernel";
		argv[i++] = (char *)(p->kernel ? p->kernel : kernel);
		argv[i++] = "--mem";
		argv[i++] = "64M";
	}
	for (j = 0; j < 10 && p->extra[j]; j++)
		argv[i++] = (char *)p->extra[j];
	argv[i] = NULL;
	execv(agentbox, argv);
	_exit(127);
}

static void drain(int fd, char *buf, size_t *len, bool *open)
{
	ssize_t n = read(fd, buf + *len, OUT_MAX - 1 - *len);

	if (n <= 0) {
		*open = false;
		return;
	}
	*len += n;
	buf[*len] = '\0';
	/* Keep reading into the last byte once full: only the start counts. */
	if (*len == OUT_MAX - 1)
		*len = OUT_MAX - 2;
}

static void send_commands(struct plan *p)
{
	unsigned int i;

	for (i = 0; i < 3 && p->commands[i]; i++)
		if (control_call(p->control, p->commands[i], TIMEOUT_MS,
				 p->replies[i], sizeof(p->replies[i])) &&
		    !p->replies[i][0])
			snprintf(p->replies[i], sizeof(p->replies[i]),
				 "no answer");
}

static void collect(pid_t pid, struct plan *p, int out, int err,
		    struct result *r)
{
	bool out_open = !p->stall_stdout, err_open = true;
	long deadline = now_ms() + TIMEOUT_MS;
	struct pollfd pfd[2];
	long last = 0;
	int sent = 0;

	while ((out_open || err_open) && now_ms() < deadline) {
		pfd[0] = (struct pollfd){ .fd = out_open ? out : -1,
					  .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = err_open ? err : -1,
					  .events = POLLIN };
		poll(pfd, 2, 100);
		if (pfd[0].revents)
			drain(out, r->out, &r->out_len, &out_open);
		if (pfd[1].revents)
			drain(err, r->err, &r->err_len, &err_open);
		/* Apart, or two SIGTERMs may merge into one. */
		if (p->trigger && sent < p->signals &&
		    strstr(r->out, p->trigger) && now_ms() - last > 300) {
			kill(pid, SIGTERM);
			last = now_ms();
			sent++;
		}
		if (p->trigger && p->control && !sent &&
		    strstr(r->out, p->trigger)) {
			if (p->inspect)
				p->inspect(p->c, pid, p);
			send_commands(p);
			sent++;
		}
	}
	if (out_open || err_open)
		kill(pid, SIGKILL);
}

static bool run_vmm(struct check *c, struct plan *p, struct result *r)
{
	int out[2], err[2], ws;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (!CHECK_INT(c, pipe(out), 0) || !CHECK_INT(c, pipe(err), 0))
		return false;
	pid = fork();
	if (pid == 0)
		child(p, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	collect(pid, p, out[0], err[0], r);
	close(out[0]);
	close(err[0]);
	if (!CHECK(c, waitpid(pid, &ws, 0) == pid))
		return false;
	if (!WIFEXITED(ws))
		return check_fail(c, "agentbox died or hung (wait status 0x%x); stderr: %s",
				  ws, r->err);
	r->status = WEXITSTATUS(ws);
	return true;
}

static bool expect(struct check *c, struct plan *p, int status,
		   struct result *r)
{
	if (!run_vmm(c, p, r))
		return false;
	if (r->status != status)
		return check_fail(c, "exit status %d, want %d; stderr: %s",
				  r->status, status, r->err);
	return true;
}

static bool has(struct check *c, const char *text, const char *what)
{
	if (strstr(text, what))
		return true;
	return check_fail(c, "output lacks \"%s\": %s", what, text);
}

static void test_poweroff_status(struct check *c)
{
	struct plan p = { .guest = "hello" };
	struct result r;

	if (!expect(c, &p, 7, &r))
		return;
	has(c, r.out, "hello from the fake guest\n");
	has(c, r.err, "agentbox: boot phase init at ");
}

static void test_smp_poweroff(struct check *c)
{
	struct plan p = { .guest = "hello", .extra = { "--cpus", "3" } };
	struct result r;

	/* The halted APs are kicked out of KVM_RUN and joined. */
	expect(c, &p, 7, &r);
}

static void test_timings(struct check *c)
{
	struct plan p = { .guest = "hello", .extra = { "--timings" } };
	struct result r;

	if (!expect(c, &p, 7, &r))
		return;
	has(c, r.err, "agentbox: timings (ms since start");
	has(c, r.err, "  vcpus ");
	has(c, r.err, "  guest init ");
	has(c, r.err, "peak RSS");
}

static void test_triple_fault(struct check *c)
{
	struct plan p = { .guest = "triple" };
	struct result r;

	if (!expect(c, &p, 122, &r))
		return;
	has(c, r.err, "agentbox: error: vcpu 0: the guest reset or triple-faulted (KVM_EXIT_SHUTDOWN); registers:\n");
	has(c, r.err, "  rip 0000000000100200 ");
	has(c, r.err, "  cs  0010 ");
}

static void test_internal_error(struct check *c)
{
	struct plan p = { .guest = "internal" };
	struct result r;

	if (!expect(c, &p, 123, &r))
		return;
	has(c, r.err, "KVM internal error 1: instruction emulation failed (KVM_EXIT_INTERNAL_ERROR, data: 0x1234)");
	has(c, r.err, "  rip ");
}

static void test_unhandled_exit(struct check *c)
{
	struct plan p = { .guest = "bogus" };
	struct result r;

	if (!expect(c, &p, 123, &r))
		return;
	has(c, r.err, "unhandled exit reason 57005");
}

static void test_serial_irq(struct check *c)
{
	struct plan p = { .guest = "irq" };
	struct result r;

	/* One rising edge on IRQ 4 when THRE interrupts are enabled. */
	expect(c, &p, 1, &r);
}

static void test_sigterm_poweroff(struct check *c)
{
	struct plan p = { .guest = "listener", .trigger = "listening",
			  .signals = 1 };
	struct result r;

	if (!expect(c, &p, 0, &r))
		return;
	has(c, r.err, "SIGTERM: asking the guest to power off");
}

static void test_second_sigterm_forces(struct check *c)
{
	struct plan p = { .guest = "hang", .extra = { "--cpus", "2" },
			  .trigger = "hanging", .signals = 2 };
	struct result r;

	if (!expect(c, &p, 143, &r))
		return;
	has(c, r.err, "SIGTERM again: stopping the guest now");
}

static void test_sigterm_timeout(struct check *c)
{
	struct plan p = { .guest = "hang", .trigger = "hanging",
			  .signals = 1 };
	long start = now_ms();
	struct result r;

	if (!expect(c, &p, 143, &r))
		return;
	has(c, r.err, "did not power off within 10 s");
	if (now_ms() - start < 9500)
		check_fail(c, "stopped after %ld ms, before the grace period",
			   now_ms() - start);
}

static void test_flood_bounded(struct check *c)
{
	struct plan p = { .guest = "flood", .stall_stdout = true };
	long start = now_ms();
	struct result r;

	/* Nobody reads the console: the guest still ends, losing output. */
	if (!expect(c, &p, 0, &r))
		return;
	has(c, r.err, "agentbox: warning: console: dropped ");
	if (now_ms() - start > 10000)
		check_fail(c, "took %ld ms", now_ms() - start);
}

/*
 * The whole snapshot path on the fake KVM: a running guest paused and
 * saved through the control socket, then restored in a new process,
 * where the fake guest checks the registers it was left with.
 */
static void test_snapshot_and_restore(struct check *c)
{
	char dir[] = "/tmp/agentbox-vmm-snap-XXXXXX", sock[64], snap[96];
	char cmd[128], rm[128];
	struct plan run = { .guest = "hang", .trigger = "hanging" };
	struct plan restore = { .guest = "hello" };
	struct result r;

	if (!CHECK(c, mkdtemp(dir) != NULL))
		return;
	snprintf(sock, sizeof(sock), "%s/ctl", dir);
	snprintf(snap, sizeof(snap), "%s/snap", dir);
	snprintf(cmd, sizeof(cmd), "snapshot %s", snap);
	run.extra[0] = "--control";
	run.extra[1] = sock;
	run.control = sock;
	run.commands[0] = "pause";
	run.commands[1] = cmd;
	run.commands[2] = "stop";
	if (expect(c, &run, 0, &r)) {
		CHECK_STR(c, run.replies[0], "ok paused");
		CHECK(c, !strncmp(run.replies[1], "ok ", 3));
		CHECK_STR(c, run.replies[2], "ok stopped");
	}
	restore.restore = snap;
	if (expect(c, &restore, 7, &r)) {
		has(c, r.out, "hello from the fake guest");
		has(c, r.err, "restored from");
	}
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		check_fail(c, "could not remove %s", dir);
}

static void test_missing_capability(struct check *c)
{
	struct plan p = { .guest = "hello" };
	struct result r;

	setenv("FAKE_KVM_MISSING_CAP", "136", 1);	/* IMMEDIATE_EXIT */
	expect(c, &p, 125, &r);
	unsetenv("FAKE_KVM_MISSING_CAP");
	has(c, r.err, "agentbox: error: /nonexistent/agentbox-fake-kvm: KVM lacks KVM_CAP_IMMEDIATE_EXIT (needed for stopping vCPUs without races)\n");
}

/* Without the shim the fake device does not exist: nothing runs. */
static void test_without_fake_kvm(struct check *c)
{
	struct plan p = { .guest = "hello" };
	struct result r;
	char saved[PATH_MAX];

	snprintf(saved, sizeof(saved), "%s", shim);
	snprintf(shim, sizeof(shim), "/nonexistent/fake_kvm.so");
	expect(c, &p, 125, &r);
	snprintf(shim, sizeof(shim), "%s", saved);
	has(c, r.err, "agentbox: error: /nonexistent/agentbox-fake-kvm: No such file or directory");
}

/* Everything of /proc/PID/name that fits in buf; 0 if it cannot be read. */
static size_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, size - 1);
	close(fd);
	n = n < 0 ? 0 : n;
	buf[n] = '\0';
	return n;
}

static void inspect_filter(struct check *c, pid_t pid, const struct plan *p)
{
	char status[4096];

	(void)p;
	read_proc(pid, "status", status, sizeof(status));
	has(c, status, "\nSeccomp:\t2\n");
	has(c, status, "\nSeccomp_filters:\t1\n");
	has(c, status, "\nNoNewPrivs:\t1\n");
}

/* The filter is on in a running VMM, and every thread has it. */
static void test_seccomp_active(struct check *c)
{
	char dir[] = "/tmp/agentbox-vmm-sc-XXXXXX", sock[64];
	struct plan p = { .guest = "hang", .trigger = "hanging",
			  .inspect = inspect_filter, .c = c,
			  .extra = { "--cpus", "2" } };
	struct result r;

	if (!CHECK(c, mkdtemp(dir) != NULL))
		return;
	snprintf(sock, sizeof(sock), "%s/ctl", dir);
	p.extra[2] = "--control";
	p.extra[3] = sock;
	p.control = sock;
	p.commands[0] = "stop";
	if (expect(c, &p, 0, &r))
		CHECK_STR(c, p.replies[0], "ok stopped");
	unlink(sock);
	rmdir(dir);
}

/*
 * A guest that took over the VMM (the fake's FAKE_KVM_ESCAPE) tries a
 * forbidden call in vCPU 0's first KVM_RUN: the VMM dies at once with
 * one line naming the call.
 */
static void expect_killed(struct check *c, const char *how, const char *line)
{
	struct plan p = { .guest = "hello", .escape = how };
	struct result r;

	if (!expect(c, &p, 121, &r))
		return;
	has(c, r.err, line);
	if (strstr(r.out, "hello from the fake guest"))
		check_fail(c, "the guest ran on: %s", r.out);
}

static void test_seccomp_kills_socket(struct check *c)
{
	expect_killed(c, "socket", "agentbox: error: seccomp: forbidden system call 41 (socket)\n");
}

static void test_seccomp_kills_ioctl(struct check *c)
{
	expect_killed(c, "ioctl", "agentbox: error: seccomp: forbidden system call 16 (ioctl)\n");
}

static void test_seccomp_kills_execve(struct check *c)
{
	expect_killed(c, "execve", "agentbox: error: seccomp: forbidden system call 59 (execve)\n");
}

/* The escape tests test the filter: without it the call goes through. */
static void test_no_seccomp(struct check *c)
{
	struct plan p = { .guest = "hello", .escape = "socket",
			  .extra = { "--no-seccomp" } };
	struct result r;

	if (!expect(c, &p, 89, &r))
		return;
	has(c, r.err, "agentbox: warning: --no-seccomp: the guest runs without the system call filter\n");
}

/* Write the test kernel to path, readable by the jail's user. */
static bool write_kernel(const char *path)
{
	static uint8_t img[BZ_LEN];
	size_t len = make_bzimage(img);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	n = write(fd, img, len);
	close(fd);
	return n == (ssize_t)len;
}

/*
 * A jail as a caller makes one: its root searchable by all, the kernel
 * in it, and a directory the VMM's user owns for sockets and snapshots.
 */
static bool make_jail(struct check *c, char *dir)
{
	char path[128];

	if (!CHECK(c, mkdtemp(dir) != NULL) || !CHECK_INT(c, chmod(dir, 0755), 0))
		return false;
	snprintf(path, sizeof(path), "%s/bzImage", dir);
	if (!CHECK(c, write_kernel(path)))
		return false;
	snprintf(path, sizeof(path), "%s/run", dir);
	return CHECK_INT(c, mkdir(path, 0700), 0) &&
	       CHECK_INT(c, chown(path, JAIL_ID, JAIL_ID), 0);
}

/* Inherited fds (the test's pipes beyond stdout and stderr) are gone. */
static void check_fds(struct check *c, pid_t pid)
{
	char path[320], link[256];
	struct dirent *e;
	ssize_t n;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!CHECK(c, d != NULL))
		return;
	while ((e = readdir(d))) {
		if (atoi(e->d_name) < 3)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		if (!strncmp(link, "pipe:", 5))
			check_fail(c, "fd %s is still the inherited %s",
				   e->d_name, link);
	}
	closedir(d);
}

/* "Groups:" followed by blanks only (Linux 6 leaves a space there). */
static void check_no_groups(struct check *c, const char *status)
{
	const char *g = strstr(status, "\nGroups:");

	if (!g)
		check_fail(c, "no Groups: line in %s", status);
	else if (g[8 + strspn(g + 8, " \t")] != '\n')
		check_fail(c, "supplementary groups left: %.40s", g + 1);
}

static void inspect_jail(struct check *c, pid_t pid, const struct plan *p)
{
	char status[4096], env[4096], path[64];
	struct stat root, dir;
	size_t i, n;

	read_proc(pid, "status", status, sizeof(status));
	has(c, status, "\nUid:\t65534\t65534\t65534\t65534\n");
	has(c, status, "\nGid:\t65534\t65534\t65534\t65534\n");
	check_no_groups(c, status);
	has(c, status, "\nNoNewPrivs:\t1\n");
	has(c, status, "\nSeccomp:\t2\n");
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	if (CHECK_INT(c, stat(path, &root), 0) &&
	    CHECK_INT(c, stat(p->dir, &dir), 0))
		CHECK(c, root.st_dev == dir.st_dev && root.st_ino == dir.st_ino);
	/* The caller's strings are zeroed, not just unlinked from environ. */
	n = read_proc(pid, "environ", env, sizeof(env));
	for (i = 0; i < n; i++)
		if (env[i]) {
			check_fail(c, "environ still holds \"%s\"", env + i);
			break;
		}
	check_fds(c, pid);
}

/* rm -r of what the jail tests leave; the VMM's files belong to nobody. */
static void remove_tree(struct check *c, const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		check_fail(c, "could not remove %s", dir);
}

/*
 * --jail on the fake KVM: the VMM runs in the directory as nobody, with
 * the filter, no environment and no inherited fds; it snapshots into
 * the jail, and a jailed restore of that snapshot runs the guest on.
 */
static void test_jail(struct check *c)
{
	char dir[] = "/tmp/agentbox-vmm-jail-XXXXXX", sock[96];
	struct plan run = { .guest = "hang", .trigger = "hanging",
			    .kernel = "/bzImage", .inspect = inspect_jail,
			    .c = c, .dir = dir,
			    .extra = { "--jail", dir, "--uid", "65534", "--gid",
				       "65534", "--control", "/run/ctl" } };
	struct plan restore = { .guest = "hello", .restore = "/run/snap",
				.extra = { "--jail", dir, "--uid", "65534",
					   "--gid", "65534" } };
	struct result r;

	if (geteuid() != 0) {
		check_skip(c, "needs root");
		return;
	}
	if (!make_jail(c, dir))
		goto out;
	snprintf(sock, sizeof(sock), "%s/run/ctl", dir);
	run.control = sock;
	run.commands[0] = "snapshot /run/snap";
	run.commands[1] = "stop";
	if (!expect(c, &run, 0, &r))
		goto out;
	CHECK(c, !strncmp(run.replies[0], "ok /run/snap: ", 14));
	CHECK_STR(c, run.replies[1], "ok stopped");
	if (expect(c, &restore, 7, &r)) {
		has(c, r.out, "hello from the fake guest");
		has(c, r.err, "restored from /run/snap");
	}
out:
	remove_tree(c, dir);
}

static bool find_files(void)
{
	static uint8_t img[BZ_LEN];
	char self[PATH_MAX - 32], *slash;
	ssize_t n;
	int fd;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	/* .../build/host/unit-CC/bin/test_vmm */
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(shim, sizeof(shim), "%s/../fake_kvm.so", self);
	snprintf(agentbox, sizeof(agentbox), "%s/../../agentbox", self);
	snprintf(kernel, sizeof(kernel), "/tmp/agentbox-vmm-XXXXXX");
	fd = mkstemp(kernel);
	if (fd < 0)
		return false;
	n = write(fd, img, make_bzimage(img));
	close(fd);
	return n == BZ_LEN && !access(agentbox, X_OK) && !access(shim, R_OK);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!find_files()) {
		printf("FAIL: %s: setup: no agentbox binary, fake_kvm.so or kernel file\n",
		       SUITE);
		return 1;
	}
	RUN(SUITE, test_poweroff_status);
	RUN(SUITE, test_smp_poweroff);
	RUN(SUITE, test_timings);
	RUN(SUITE, test_triple_fault);
	RUN(SUITE, test_internal_error);
	RUN(SUITE, test_unhandled_exit);
	RUN(SUITE, test_serial_irq);
	RUN(SUITE, test_sigterm_poweroff);
	RUN(SUITE, test_second_sigterm_forces);
	RUN(SUITE, test_sigterm_timeout);
	RUN(SUITE, test_flood_bounded);
	RUN(SUITE, test_snapshot_and_restore);
	RUN(SUITE, test_missing_capability);
	RUN(SUITE, test_without_fake_kvm);
	RUN(SUITE, test_seccomp_active);
	RUN(SUITE, test_seccomp_kills_socket);
	RUN(SUITE, test_seccomp_kills_ioctl);
	RUN(SUITE, test_seccomp_kills_execve);
	RUN(SUITE, test_no_seccomp);
	RUN(SUITE, test_jail);
	unlink(kernel);
	return check_exit();
}
