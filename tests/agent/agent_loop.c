/*
 * agent-loop SOCK N: N execs of `true`, one after another, on one agent
 * session, each timed from the EXEC request to its EXIT; prints
 * "p50_ms= p99_ms=". The exec benchmark's (tests/l1/qga-bench.sh) peer of
 * qemu-ga driven over one long-lived connection.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agent_client.h"

#define RUNS_MAX	100000

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* 0 when `true` ran and exited 0; the channel is released either way. */
static int exec_true(struct agent_session *s)
{
	char *args[] = { "true", NULL };
	struct agent_chan *ch;
	int err;

	ch = agent_exec(s, args, NULL, "", false, 0, 0, -1, -1, -1);
	if (!ch)
		return -1;
	err = agent_wait(s, ch);
	if (!err && (ch->err || ch->exit_how != PROTO_EXITED || ch->exit_value))
		err = -1;
	agent_chan_release(s, ch);
	return err;
}

static int run(struct agent_session *s, long n)
{
	int64_t *ns = calloc(n, sizeof(*ns)), t;
	long i;

	if (!ns)
		return -1;
	for (i = 0; i < n; i++) {
		t = now_ns();
		if (exec_true(s)) {
			fprintf(stderr, "agent-loop: exec %ld: %s\n", i,
				s->broken ? s->why : "failed in the guest");
			free(ns);
			return -1;
		}
		ns[i] = now_ns() - t;
	}
	qsort(ns, n, sizeof(*ns), cmp_i64);
	printf("p50_ms=%.2f p99_ms=%.2f\n", ns[(n + 1) / 2 - 1] / 1e6,
	       ns[(n * 99 + 99) / 100 - 1] / 1e6);
	free(ns);
	return 0;
}

int main(int argc, char *argv[])
{
	char why[AGENT_WHY_MAX];
	struct agent_session *s;
	long n = argc == 3 ? atol(argv[2]) : 0;
	int fd, err;

	if (n <= 0 || n > RUNS_MAX) {
		fprintf(stderr, "usage: agent-loop SOCK N (1..%d)\n", RUNS_MAX);
		return 2;
	}
	fd = agent_dial(argv[1], AGENT_DIAL_TIMEOUT_MS, why, sizeof(why));
	s = fd < 0 ? NULL : agent_session_new(fd, AGENT_DIAL_TIMEOUT_MS, why, sizeof(why));
	if (!s) {
		fprintf(stderr, "agent-loop: %s\n", why);
		return 1;
	}
	err = run(s, n);
	agent_session_free(s);
	return err ? 1 : 0;
}
