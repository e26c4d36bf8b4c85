/*
 * agent-parallel SOCK N: N execs at once on one agent session (the only
 * way over QEMU's single chardev connection), each checked for its own
 * output and exit status. For tests/agent.test and tools/bench-agent.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "agent_client.h"

#define SCRIPT "sleep 1; echo job $0; exit $(($0 % 7))"

static int check_one(struct agent_chan *ch, int fd, unsigned int i)
{
	char want[32], got[32] = "";

	snprintf(want, sizeof(want), "job %u\n", i);
	if (pread(fd, got, sizeof(got) - 1, 0) < 0 || strcmp(got, want)) {
		fprintf(stderr, "exec %u: output '%s', expected '%s'\n", i, got, want);
		return 1;
	}
	if (ch->err || ch->exit_how != PROTO_EXITED || ch->exit_value != (int)(i % 7)) {
		fprintf(stderr, "exec %u: ended %d/%d (%s), expected exit %u\n", i,
			ch->exit_how, ch->exit_value, ch->msg, i % 7);
		return 1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct agent_chan *ch[PROTO_CHANNEL_MAX];
	int out[PROTO_CHANNEL_MAX], fd, bad = 0;
	char why[AGENT_WHY_MAX], num[16];
	struct agent_session *s;
	unsigned int n, i, done;

	n = argc == 3 ? atoi(argv[2]) : 0;
	if (n == 0 || n > PROTO_CHANNEL_MAX) {
		fprintf(stderr, "usage: agent-parallel SOCK N (1..%u)\n", PROTO_CHANNEL_MAX);
		return 2;
	}
	fd = agent_dial(argv[1], AGENT_DIAL_TIMEOUT_MS, why, sizeof(why));
	s = fd < 0 ? NULL : agent_session_new(fd, AGENT_DIAL_TIMEOUT_MS, why, sizeof(why));
	if (!s) {
		fprintf(stderr, "agent-parallel: %s\n", why);
		return 1;
	}
	for (i = 0; i < n; i++) {
		char *args[] = { "sh", "-c", SCRIPT, num, NULL };

		snprintf(num, sizeof(num), "%u", i);
		out[i] = memfd_create("out", MFD_CLOEXEC);
		ch[i] = agent_exec(s, args, NULL, "", false, 0, 0, -1, out[i], -1);
		if (!ch[i]) {
			fprintf(stderr, "agent-parallel: cannot start exec %u\n", i);
			return 1;
		}
	}
	for (done = 0; done < n; ) {
		if (agent_step(s, NULL, 0, -1)) {
			fprintf(stderr, "agent-parallel: %s\n", s->why);
			return 1;
		}
		for (done = 0, i = 0; i < n; i++)
			done += agent_chan_finished(ch[i]);
	}
	for (i = 0; i < n; i++)
		bad += check_one(ch[i], out[i], i);
	agent_session_free(s);
	printf("%u execs at once: %u right\n", n, n - bad);
	return bad ? 1 : 0;
}
