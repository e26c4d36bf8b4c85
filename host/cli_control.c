#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_control.h"
#include "control.h"

#define EXIT_REFUSED	1
#define EXIT_USAGE	2
/* Writing guest RAM out can take a while under nested virtualization. */
#define SNAPSHOT_TIMEOUT_MS	(600 * 1000)
#define CALL_TIMEOUT_MS		(30 * 1000)

const char cli_control_usage[] =
"  agentbox pause SOCK          stop the vCPUs of the VM run with --control SOCK\n"
"  agentbox resume SOCK         let them run again\n"
"  agentbox snapshot SOCK DIR   write a snapshot of the VM to DIR (pausing it\n"
"                               meanwhile); 'agentbox restore DIR' resumes it\n"
"  agentbox stop SOCK           stop the VM now; its loader exits 0\n";

static const char *const commands[] = { "pause", "resume", "snapshot", "stop" };

bool cli_control_is_command(const char *cmd)
{
	unsigned int i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i]))
			return true;
	return false;
}

/* The VMM may run elsewhere in the tree: it gets an absolute DIR. */
static int absolute_dir(const char *dir, char *out, size_t cap)
{
	char cwd[PATH_MAX];

	if (!*dir || strchr(dir, '\n'))
		return -EINVAL;
	if (dir[0] == '/')
		return snprintf(out, cap, "%s", dir) < (int)cap ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, cap, "%s/%s", cwd, dir) < (int)cap ? 0 :
	       -ENAMETOOLONG;
}

static int call(const char *sock, const char *cmd, int timeout_ms)
{
	char reply[CONTROL_LINE_MAX];
	int err;

	err = control_call(sock, cmd, timeout_ms, reply, sizeof(reply));
	if (err == -EREMOTEIO) {
		fprintf(stderr, "agentbox: %s: %s\n", sock, reply);
		return EXIT_REFUSED;
	}
	if (err) {
		fprintf(stderr, "agentbox: %s: %s\n", sock,
			err == -ETIMEDOUT ? "no answer from the VM" :
			strerror(-err));
		return EXIT_REFUSED;
	}
	if (strlen(reply) > 3)
		printf("%s\n", reply + 3);
	return 0;
}

int cli_control_main(int argc, char *argv[])
{
	char dir[PATH_MAX], cmd[PATH_MAX + 16];
	bool snapshot = !strcmp(argv[0], "snapshot");
	int want = snapshot ? 3 : 2, err;

	if (argc != want) {
		fprintf(stderr, "agentbox: usage: agentbox %s SOCK%s\n", argv[0],
			snapshot ? " DIR" : "");
		return EXIT_USAGE;
	}
	if (!snapshot)
		return call(argv[1], argv[0], CALL_TIMEOUT_MS);
	err = absolute_dir(argv[2], dir, sizeof(dir));
	if (err) {
		fprintf(stderr, "agentbox: %s: %s\n", argv[2],
			err == -EINVAL ? "not a usable directory name" :
			strerror(-err));
		return EXIT_USAGE;
	}
	snprintf(cmd, sizeof(cmd), "snapshot %s", dir);
	return call(argv[1], cmd, SNAPSHOT_TIMEOUT_MS);
}
