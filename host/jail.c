#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "jail.h"
#include "mptable.h"
#include "options.h"
#include "virtio_vsock.h"

/* The count JAIL_NOFILE's comment makes, with 64 fds to spare. */
_Static_assert(3 + 2 + MPTABLE_MAX_CPUS + 2 * OPT_MAX_DISKS +
	       VSOCK_MAX_CONNS + 1 + 64 <= JAIL_NOFILE,
	       "JAIL_NOFILE is too small for the largest VM");

static int fail(int err, char *why, size_t n, const char *dir,
		const char *what)
{
	snprintf(why, n, "--jail %s: %s: %s", dir, what, strerror(-err));
	return err;
}

int jail_check(const char *dir, char *why, size_t why_size)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		snprintf(why, why_size, "--jail %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, why_size, "--jail %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (geteuid() != 0) {
		snprintf(why, why_size,
			 "--jail %s: needs root, to enter a mount namespace and change ids",
			 dir);
		return -EPERM;
	}
	return 0;
}

int jail_close_fds(int keep_fd)
{
	if (keep_fd > 3 && close_range(3, keep_fd - 1, 0) < 0)
		return -errno;
	if (keep_fd < 3)
		keep_fd = 2;
	return close_range(keep_fd + 1, ~0U, 0) < 0 ? -errno : 0;
}

/*
 * pivot_root(".", ".") stacks the old root on top of the new one, so the
 * jail needs no empty directory to park it in; unmounting "." then
 * detaches the old root (pivot_root(2)).
 */
static int pivot_into(const char *dir, char *why, size_t n)
{
	if (chdir(dir) < 0)
		return fail(-errno, why, n, dir, "chdir");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(-errno, why, n, dir, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return fail(-errno, why, n, dir, "detaching the old root");
	if (chdir("/") < 0)
		return fail(-errno, why, n, dir, "chdir /");
	return 0;
}

/*
 * Private first, so neither the bind mount nor the detach travels back
 * to the caller's namespace. pivot_root wants the new root to be a
 * mount point: the bind of dir onto itself makes it one.
 */
static int new_root(const char *dir, char *why, size_t n)
{
	if (unshare(CLONE_NEWNS) < 0)
		return fail(-errno, why, n, dir, "unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(-errno, why, n, dir, "making mounts private");
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(-errno, why, n, dir, "bind mount");
	return pivot_into(dir, why, n);
}

/* Groups before the gid, and both before the uid that allows them. */
static int drop_ids(const char *dir, uint32_t uid, uint32_t gid, char *why,
		    size_t n)
{
	if (setgroups(0, NULL) < 0)
		return fail(-errno, why, n, dir, "setgroups");
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(why, n, "--gid %u: %s", gid, strerror(errno));
		return -errno;
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(why, n, "--uid %u: %s", uid, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Lowered, never raised: a hard limit below ours stays. */
static int lower_limit(int resource, rlim_t v)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) < 0)
		return -errno;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/*
 * clearenv() drops only the pointers: the strings stay in memory, where
 * /proc/PID/environ still shows them. Zero them, so a secret in the
 * caller's environment is not left for whoever takes over the VMM.
 */
static int scrub_environment(void)
{
	char **e;

	for (e = environ; e && *e; e++)
		memset(*e, 0, strlen(*e));
	return clearenv() ? -ENOMEM : 0;
}

int jail_enter(const char *dir, uint32_t uid, uint32_t gid, char *why,
	       size_t why_size)
{
	int err;

	err = new_root(dir, why, why_size);
	if (!err)
		err = drop_ids(dir, uid, gid, why, why_size);
	if (err)
		return err;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(-errno, why, why_size, dir, "no_new_privs");
	err = lower_limit(RLIMIT_NOFILE, JAIL_NOFILE);
	if (err)
		return fail(err, why, why_size, dir, "RLIMIT_NOFILE");
	err = scrub_environment();
	if (err)
		return fail(err, why, why_size, dir, "clearing the environment");
	return 0;
}

uint64_t jail_file_limit(uint64_t ram, const uint64_t *disk_bytes,
			 unsigned int nr_disks)
{
	uint64_t max = ram;
	unsigned int i;

	for (i = 0; i < nr_disks; i++)
		if (disk_bytes[i] > max)
			max = disk_bytes[i];
	return max + JAIL_FSIZE_SLACK;
}

int jail_limit_files(uint64_t limit, char *why, size_t why_size)
{
	int err;

	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
		snprintf(why, why_size, "SIGXFSZ: %s", strerror(errno));
		return -errno;
	}
	err = lower_limit(RLIMIT_FSIZE, limit);
	if (err)
		snprintf(why, why_size, "RLIMIT_FSIZE %llu: %s",
			 (unsigned long long)limit, strerror(-err));
	return err;
}
