/*
 * --jail: the checks before anything is opened, the file-size bound, and
 * the jail itself entered by a forked child (as root; skipped
 * otherwise), which reports what it sees from inside.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "jail.h"

#define SUITE		"jail"
#define NOBODY		65534
#define MIB		(1ULL << 20)

static void test_file_limit(struct check *c)
{
	static const uint64_t disks[] = { 1ULL << 30, 8ULL << 30, 4096 };

	CHECK_U64(c, jail_file_limit(512 * MIB, NULL, 0),
		  512 * MIB + JAIL_FSIZE_SLACK);
	CHECK_U64(c, jail_file_limit(512 * MIB, disks, 3),
		  (8ULL << 30) + JAIL_FSIZE_SLACK);
	CHECK_U64(c, jail_file_limit(16ULL << 30, disks, 3),
		  (16ULL << 30) + JAIL_FSIZE_SLACK);
}

static void test_check(struct check *c)
{
	char why[256];

	CHECK_INT(c, jail_check("/nonexistent/jail", why, sizeof(why)),
		  -ENOENT);
	CHECK_STR(c, why, "--jail /nonexistent/jail: No such file or directory");
	CHECK_INT(c, jail_check("/dev/null", why, sizeof(why)), -ENOTDIR);
	CHECK_STR(c, why, "--jail /dev/null: not a directory");
	if (geteuid() == 0)
		CHECK_INT(c, jail_check("/tmp", why, sizeof(why)), 0);
	else
		CHECK_INT(c, jail_check("/tmp", why, sizeof(why)), -EPERM);
}

/* Each failed look from inside sets its bit in the exit status. */
static int look_around(int kept_fd, int leaked_fd)
{
	struct rlimit rl;
	int bad = 0;

	if (getuid() != NOBODY || geteuid() != NOBODY || getgid() != NOBODY ||
	    getegid() != NOBODY || getgroups(0, NULL) != 0)
		bad |= 1;
	if (access("/marker", F_OK) || !access("/proc", F_OK) ||
	    !access("/tmp", F_OK))
		bad |= 2;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		bad |= 4;
	if (getenv("PATH") || (environ && *environ))
		bad |= 8;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max > JAIL_NOFILE)
		bad |= 16;
	if (fcntl(kept_fd, F_GETFD) < 0 || fcntl(leaked_fd, F_GETFD) >= 0)
		bad |= 32;
	if (setuid(0) == 0)
		bad |= 64;
	return bad;
}

#define INHERITED_FD	40

/* What a jailed VMM does: close what it inherited, open /dev/kvm, enter. */
static void child(const char *dir)
{
	char why[256];
	int fd;

	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, INHERITED_FD) != INHERITED_FD)
		_exit(100);
	close(fd);
	if (jail_close_fds(-1))
		_exit(101);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (jail_enter(dir, NOBODY, NOBODY, why, sizeof(why))) {
		fprintf(stderr, "%s\n", why);
		_exit(102);
	}
	_exit(look_around(fd, INHERITED_FD));
}

static void test_enter(struct check *c)
{
	char dir[] = "/tmp/agentbox-jail-XXXXXX", marker[64];
	int fd, ws;
	pid_t pid;

	if (geteuid() != 0) {
		check_skip(c, "needs root");
		return;
	}
	/* The jail's root must be searchable by the ids the VMM drops to. */
	if (!CHECK(c, mkdtemp(dir) != NULL) || !CHECK_INT(c, chmod(dir, 0755), 0))
		return;
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (CHECK(c, fd >= 0))
		close(fd);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child(dir);
	if (CHECK(c, waitpid(pid, &ws, 0) == pid) && WIFEXITED(ws))
		CHECK_INT(c, WEXITSTATUS(ws), 0);
	else
		check_fail(c, "wait status 0x%x", ws);
	unlink(marker);
	rmdir(dir);
	/* The bind mount and the detach stayed in the child's namespace. */
	CHECK(c, access("/proc/self", F_OK) == 0);
}

/* Past the bound a write fails, and the process lives on. */
static void limit_child(const char *path)
{
	static char buf[64 << 10];
	struct rlimit rl;
	char why[256];
	ssize_t n = 0;
	int fd, i;

	if (jail_limit_files(256 << 10, why, sizeof(why)))
		_exit(1);
	if (getrlimit(RLIMIT_FSIZE, &rl) || rl.rlim_cur != 256 << 10 ||
	    rl.rlim_max != 256 << 10)
		_exit(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(3);
	for (i = 0; i < 4; i++)
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			_exit(4);
	n = write(fd, buf, sizeof(buf));
	_exit(n < 0 && errno == EFBIG ? 0 : 5);
}

static void test_limit_files(struct check *c)
{
	char path[] = "/tmp/agentbox-jail-fsize-XXXXXX";
	int fd, ws;
	pid_t pid;

	fd = mkstemp(path);
	if (!CHECK(c, fd >= 0))
		return;
	close(fd);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		limit_child(path);
	if (CHECK(c, waitpid(pid, &ws, 0) == pid) && WIFEXITED(ws))
		CHECK_INT(c, WEXITSTATUS(ws), 0);
	else
		check_fail(c, "wait status 0x%x", ws);
	unlink(path);
}

int main(void)
{
	RUN(SUITE, test_file_limit);
	RUN(SUITE, test_check);
	RUN(SUITE, test_enter);
	RUN(SUITE, test_limit_files);
	return check_exit();
}
