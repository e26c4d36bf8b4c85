#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_agent.h"
#include "cli_control.h"
#include "control.h"
#include "log.h"
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
		pr_err("%s: %s", sock, reply);
		return CLI_EXIT_FAILED;
	}
	if (err) {
		pr_err("%s: %s", sock, err == -ETIMEDOUT ?
		       "no answer from the VM" : strerror(-err));
		return CLI_EXIT_FAILED;
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
		pr_err("usage: agentbox %s SOCK%s", argv[0],
		       snapshot ? " DIR" : "");
		return CLI_EXIT_FAILED;
	}
	if (!snapshot)
		return call(argv[1], argv[0], CALL_TIMEOUT_MS);
	err = absolute_dir(argv[2], dir, sizeof(dir));
	if (err) {
		pr_err("%s: %s", argv[2], err == -EINVAL ?
		       "not a usable directory name" : strerror(-err));
		return CLI_EXIT_FAILED;
	}
	snprintf(cmd, sizeof(cmd), "snapshot %s", dir);
	return call(argv[1], cmd, SNAPSHOT_TIMEOUT_MS);
}
