/*
 * The VMM's system call filter: its log line, its ioctl table, and the
 * filter itself loaded into a forked child, which must be able to do
 * what a running VMM does and must die, with the line and status 121,
 * on what an attacker in it would try.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/fs.h>
#include <linux/kvm.h>

#include "check.h"
#include "seccomp_filter.h"

/* The static build (test_seccomp_static) names itself. */
#ifndef SUITE
#define SUITE		"seccomp"
#endif
#define OUT_MAX		1024

static void test_message(struct check *c)
{
	char buf[SECCOMP_FILTER_MSG_MAX];
	size_t n;

	seccomp_filter_load_names();
	n = seccomp_filter_message(buf, sizeof(buf), 41, true);
	CHECK_STR(c, buf, "agentbox: error: seccomp: forbidden system call 41 (socket)\n");
	CHECK_INT(c, n, strlen(buf));
	seccomp_filter_message(buf, sizeof(buf), SYS_execve, true);
	CHECK_STR(c, buf, "agentbox: error: seccomp: forbidden system call 59 (execve)\n");
	seccomp_filter_message(buf, sizeof(buf), 100000, true);
	CHECK_STR(c, buf, "agentbox: error: seccomp: forbidden system call 100000 (unknown)\n");
	seccomp_filter_message(buf, sizeof(buf), -1, true);
	CHECK_STR(c, buf, "agentbox: error: seccomp: forbidden system call -1 (unknown)\n");
	seccomp_filter_message(buf, sizeof(buf), 11, false);
	CHECK_STR(c, buf, "agentbox: error: seccomp: forbidden system call 11 (not an x86-64 system call)\n");
	n = seccomp_filter_message(buf, 10, 41, true);
	CHECK_INT(c, n, 9);
	CHECK_STR(c, buf, "agentbox:");
	CHECK_INT(c, seccomp_filter_message(buf, 0, 41, true), 0);
}

/* What runs after the filter, and what only set-up may do. */
static void test_ioctls(struct check *c)
{
	static const unsigned long allowed[] = {
		KVM_RUN, KVM_IRQ_LINE, KVM_GET_REGS, KVM_GET_SREGS,
		KVM_KVMCLOCK_CTRL, KVM_GET_MSRS, KVM_GET_XSAVE,
		KVM_GET_IRQCHIP, KVM_GET_CLOCK, FICLONE, BLKGETSIZE64,
	};
	static const unsigned long refused[] = {
		KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION,
		KVM_SET_REGS, KVM_SET_SREGS, KVM_SET_MSRS, KVM_SET_CPUID2,
		KVM_SET_IRQCHIP, KVM_SET_CLOCK, TIOCSTI, FIONREAD, TCGETS,
	};
	unsigned int i;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (!seccomp_filter_allows_ioctl(allowed[i]))
			check_fail(c, "ioctl 0x%lx refused", allowed[i]);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (seccomp_filter_allows_ioctl(refused[i]))
			check_fail(c, "ioctl 0x%lx allowed", refused[i]);
}

static void *thread_fn(void *arg)
{
	return arg;
}

/* A thread, as the VMM starts its vCPUs after the filter: clone3 gives way. */
static int threads(void)
{
	pthread_t t;
	void *ret = NULL;

	if (pthread_create(&t, NULL, thread_fn, (void *)1) ||
	    pthread_join(t, &ret))
		return 1;
	return ret == (void *)1 ? 0 : 2;
}

/* A snapshot's files: a directory, a file fsynced, renamed, listed. */
static int files(const char *dir)
{
	char sub[256], a[300], b[300];
	int fd, ok;

	snprintf(sub, sizeof(sub), "%s/snap", dir);
	snprintf(a, sizeof(a), "%s/state.tmp", sub);
	snprintf(b, sizeof(b), "%s/state", sub);
	if (mkdir(sub, 0700) < 0)
		return 10;
	fd = open(a, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return 11;
	ok = write(fd, "x", 1) == 1 && ftruncate(fd, 4096) == 0 &&
	     fsync(fd) == 0 && flock(fd, LOCK_EX) == 0;
	close(fd);
	if (!ok || rename(a, b) < 0 || unlink(b) < 0)
		return ok ? 13 : 12;
	return 0;
}

/* A vsock host connection: a unix socket, which may fail to connect. */
static int sockets(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	void *p;

	if (fd < 0)
		return 20;
	close(fd);
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 21;
	madvise(p, 1 << 20, MADV_DONTNEED);
	munmap(p, 1 << 20);
	return 0;
}

/* An attacker's first tries, each of which must end the process. */
static void forbidden(const char *how)
{
	static char *const argv[] = { "/bin/true", NULL };
	char ch = 'x';

	if (!strcmp(how, "socket"))
		socket(AF_INET, SOCK_STREAM, 0);
	else if (!strcmp(how, "ioctl"))
		ioctl(STDIN_FILENO, TIOCSTI, &ch);
	else if (!strcmp(how, "execve"))
		syscall(SYS_execve, argv[0], argv, NULL);
	else if (!strcmp(how, "fork"))
		syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	else if (!strcmp(how, "exec-memory"))
		mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else if (!strcmp(how, "ptrace"))
		syscall(SYS_ptrace, 0, 0, NULL, NULL);
}

/*
 * In the child: load the filter, do the allowed things (a non-zero exit
 * names the one that failed), then the forbidden one, if any.
 */
static void child(const char *dir, const char *how, int err_fd)
{
	char why[256];
	int rc;

	dup2(err_fd, STDERR_FILENO);
	if (seccomp_filter_install(why, sizeof(why))) {
		dprintf(STDERR_FILENO, "%s\n", why);
		_exit(3);
	}
	rc = threads();
	if (!rc)
		rc = files(dir);
	if (!rc)
		rc = sockets();
	if (rc)
		_exit(rc);
	if (how)
		forbidden(how);
	_exit(0);
}

static void remove_dir(const char *dir)
{
	char sub[256];

	snprintf(sub, sizeof(sub), "%s/snap", dir);
	rmdir(sub);
	rmdir(dir);
}

static void run_filtered(struct check *c, const char *how, int want,
			 const char *line)
{
	char dir[] = "/tmp/agentbox-seccomp-XXXXXX", out[OUT_MAX] = "";
	int pfd[2], ws;
	ssize_t n;
	pid_t pid;

	if (!CHECK(c, mkdtemp(dir) != NULL) || !CHECK_INT(c, pipe(pfd), 0))
		return;
	pid = fork();
	if (pid == 0)
		child(dir, how, pfd[1]);
	close(pfd[1]);
	n = read(pfd[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	remove_dir(dir);
	if (!CHECK(c, waitpid(pid, &ws, 0) == pid))
		return;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != want) {
		check_fail(c, "wait status 0x%x, want exit %d; stderr: %s", ws,
			   want, out);
		return;
	}
	if (line)
		CHECK_STR(c, out, line);
}

static void test_allowed(struct check *c)
{
	run_filtered(c, NULL, 0, "");
}

static void test_socket(struct check *c)
{
	run_filtered(c, "socket", SECCOMP_FILTER_STATUS,
		     "agentbox: error: seccomp: forbidden system call 41 (socket)\n");
}

static void test_ioctl(struct check *c)
{
	run_filtered(c, "ioctl", SECCOMP_FILTER_STATUS,
		     "agentbox: error: seccomp: forbidden system call 16 (ioctl)\n");
}

static void test_execve(struct check *c)
{
	run_filtered(c, "execve", SECCOMP_FILTER_STATUS,
		     "agentbox: error: seccomp: forbidden system call 59 (execve)\n");
}

static void test_fork(struct check *c)
{
	run_filtered(c, "fork", SECCOMP_FILTER_STATUS,
		     "agentbox: error: seccomp: forbidden system call 56 (clone)\n");
}

static void test_exec_memory(struct check *c)
{
	run_filtered(c, "exec-memory", SECCOMP_FILTER_STATUS,
		     "agentbox: error: seccomp: forbidden system call 9 (mmap)\n");
}

static void test_ptrace(struct check *c)
{
	run_filtered(c, "ptrace", SECCOMP_FILTER_STATUS,
		     "agentbox: error: seccomp: forbidden system call 101 (ptrace)\n");
}

int main(void)
{
	RUN(SUITE, test_message);
	RUN(SUITE, test_ioctls);
	RUN(SUITE, test_allowed);
	RUN(SUITE, test_socket);
	RUN(SUITE, test_ioctl);
	RUN(SUITE, test_execve);
	RUN(SUITE, test_fork);
	RUN(SUITE, test_exec_memory);
	RUN(SUITE, test_ptrace);
	return check_exit();
}
