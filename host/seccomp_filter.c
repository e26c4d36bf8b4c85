#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <seccomp.h>

#include "seccomp_filter.h"

/* x86-64 numbers its system calls below this (Linux 6.x: about 460). */
#define NR_NAMES	512
#define NAME_LEN	32

#define MSG_PREFIX	"agentbox: error: seccomp: forbidden system call "

/*
 * Allowed whatever their arguments: what the main thread's supervision,
 * the vCPU, console, vsock and net threads, a pause and a snapshot into a new
 * directory make once the guest runs. Read from the code and checked
 * with strace on the fake KVM (glibc 2.36: fstat is newfstatat, usleep
 * is clock_nanosleep, realpath is readlink and getcwd).
 */
static const int plain_syscalls[] = {
	/* I/O on what is open: disks, console, sockets, eventfds, files */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(lseek),
	SCMP_SYS(close), SCMP_SYS(newfstatat), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(ftruncate), SCMP_SYS(flock),
	SCMP_SYS(copy_file_range),
	/* snapshots into a directory named at run time */
	SCMP_SYS(openat), SCMP_SYS(mkdir), SCMP_SYS(rename),
	SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(getdents64),
	SCMP_SYS(readlink), SCMP_SYS(getcwd),
	/* waiting: the supervisor, vsock thread, pause and stop */
	SCMP_SYS(poll), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(futex), SCMP_SYS(clock_nanosleep), SCMP_SYS(clock_gettime),
	/* a call a stop signal interrupted goes on through this one */
	SCMP_SYS(restart_syscall),
	/* unix sockets: control clients, vsock host connections, agent */
	SCMP_SYS(accept4), SCMP_SYS(connect), SCMP_SYS(getsockopt),
	SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(shutdown),
	/* memory: malloc, thread stacks, the snapshot's scan of RAM */
	SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(mincore),
	SCMP_SYS(brk), SCMP_SYS(mremap),
	/* threads and signals: vCPU kicks, SIGTERM through the signalfd */
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(tgkill),
	SCMP_SYS(getpid), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	/* abort() signals its own thread by the id the kernel gives it */
	SCMP_SYS(gettid),
	/*
	 * A static glibc installs its handler for set*id() broadcasts at
	 * the first pthread_create(), which need not come before the filter
	 */
	SCMP_SYS(rt_sigaction),
	/* fresh entropy for a restored guest, --timings, the end */
	SCMP_SYS(getrandom), SCMP_SYS(getrusage), SCMP_SYS(exit),
	SCMP_SYS(exit_group),
};

#define NR_PLAIN	(sizeof(plain_syscalls) / sizeof(plain_syscalls[0]))

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED	1
#endif
#endif

/*
 * ASan's runtime (the unit tests' builds; the loader binaries have no
 * sanitizer) sets up each new thread with calls of its own (an
 * alternate signal stack, the thread's CPU set): without them the
 * filter's own tests would only test the filter's kill.
 */
static const int sanitizer_syscalls[] = {
#ifdef SANITIZED
	SCMP_SYS(sigaltstack), SCMP_SYS(sched_getaffinity),
#endif
	-1,
};

/*
 * Every ioctl the VMM makes once the guest runs. Creating and setting up
 * the VM (KVM_CREATE_*, KVM_SET_*, a restore's state) all comes before.
 */
static const unsigned long allowed_ioctls[] = {
	KVM_RUN,
	/* devices raising their interrupts */
	KVM_IRQ_LINE,
	/* the registers of a vCPU that ends the run, or is stuck at the end */
	KVM_GET_REGS, KVM_GET_SREGS,
	/* a pause tells a kvmclock guest it was stopped */
	KVM_KVMCLOCK_CTRL,
	/* a snapshot: the vCPUs in their save order, then the VM */
	KVM_GET_MSR_INDEX_LIST, KVM_GET_MP_STATE, KVM_GET_XSAVE,
	KVM_GET_XCRS, KVM_GET_LAPIC, KVM_GET_MSRS, KVM_GET_VCPU_EVENTS,
	KVM_GET_DEBUGREGS, KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK,
	/* a snapshot's copy of a writable disk, where the file system can */
	FICLONE,
	/* a snapshot's identity of a disk that is a block device: its size */
	BLKGETSIZE64,
};

#define NR_IOCTLS	(sizeof(allowed_ioctls) / sizeof(allowed_ioctls[0]))

static char names[NR_NAMES][NAME_LEN];

bool seccomp_filter_allows_ioctl(unsigned long req)
{
	unsigned int i;

	for (i = 0; i < NR_IOCTLS; i++)
		if (allowed_ioctls[i] == req)
			return true;
	return false;
}

/*
 * The SIGSYS handler cannot ask libseccomp (it allocates), so every name
 * is looked up beforehand.
 */
void seccomp_filter_load_names(void)
{
	char *name;
	int nr;

	for (nr = 0; nr < NR_NAMES; nr++) {
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (!name)
			continue;
		snprintf(names[nr], NAME_LEN, "%s", name);
		free(name);
	}
}

static size_t put_str(char *buf, size_t size, size_t at, const char *s)
{
	while (*s && at + 1 < size)
		buf[at++] = *s++;
	buf[at] = '\0';
	return at;
}

static size_t put_num(char *buf, size_t size, size_t at, long v)
{
	char digits[24];
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	int i = sizeof(digits) - 1;

	digits[i] = '\0';
	do {
		digits[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (v < 0)
		digits[--i] = '-';
	return put_str(buf, size, at, digits + i);
}

size_t seccomp_filter_message(char *buf, size_t size, long nr, bool native)
{
	const char *name = "unknown";
	size_t at;

	if (!size)
		return 0;
	if (!native)
		name = "not an x86-64 system call";
	else if (nr >= 0 && nr < NR_NAMES && names[nr][0])
		name = names[nr];
	at = put_str(buf, size, 0, MSG_PREFIX);
	at = put_num(buf, size, at, nr);
	at = put_str(buf, size, at, " (");
	at = put_str(buf, size, at, name);
	return put_str(buf, size, at, ")\n");
}

/*
 * Only write(2) and exit_group(2), made directly: whatever the thread
 * was doing is suspect, and a sanitizer's wrappers of write() and
 * _exit() would make calls of their own (a leak check at exit).
 */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char msg[SECCOMP_FILTER_MSG_MAX];
	size_t len;

	(void)sig;
	(void)ctx;
	len = seccomp_filter_message(msg, sizeof(msg), si->si_syscall,
				     si->si_arch == AUDIT_ARCH_X86_64);
	syscall(SYS_write, STDERR_FILENO, msg, len);
	syscall(SYS_exit_group, SECCOMP_FILTER_STATUS);
}

static int set_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

static int add_plain(scmp_filter_ctx ctx)
{
	unsigned int i;
	int err;

	for (i = 0; i < NR_PLAIN; i++) {
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain_syscalls[i], 0);
		if (err)
			return err;
	}
	for (i = 0; sanitizer_syscalls[i] >= 0; i++) {
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
				       sanitizer_syscalls[i], 0);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The kernel takes the request as an unsigned int; a caller that sets
 * the upper half to sneak past an exact match only gets refused.
 */
static int add_ioctls(scmp_filter_ctx ctx)
{
	unsigned int i;
	int err;

	for (i = 0; i < NR_IOCTLS; i++) {
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, allowed_ioctls[i], 0));
		if (err)
			return err;
	}
	return 0;
}

/*
 * Threads, but no processes: clone only with CLONE_THREAD. clone3 keeps
 * its flags in memory a filter cannot read, so it fails with ENOSYS and
 * libc falls back to clone.
 */
static int add_threads(scmp_filter_ctx ctx)
{
	int err;

	err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
				       CLONE_THREAD));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				       SCMP_SYS(clone3), 0);
	return err;
}

/* No new executable memory, and sockets only of the unix kind. */
static int add_restricted(scmp_filter_ctx ctx)
{
	int err;

	err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	return err;
}

static int build(scmp_filter_ctx ctx)
{
	int err;

	/* A call of another ABI (int 0x80, x32) is forbidden too. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!err)
		err = add_plain(ctx);
	if (!err)
		err = add_ioctls(ctx);
	if (!err)
		err = add_threads(ctx);
	if (!err)
		err = add_restricted(ctx);
	return err;
}

int seccomp_filter_install(char *why, size_t why_size)
{
	scmp_filter_ctx ctx;
	int err;

	seccomp_filter_load_names();
	err = set_handler();
	if (err) {
		snprintf(why, why_size, "seccomp: SIGSYS handler: %s",
			 strerror(-err));
		return err;
	}
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(why, why_size, "seccomp: out of memory");
		return -ENOMEM;
	}
	err = build(ctx);
	if (!err)
		err = seccomp_load(ctx);
	if (err)
		snprintf(why, why_size, "seccomp: %s", strerror(-err));
	seccomp_release(ctx);
	return err;
}
