/*
 * How a run ends. Whoever sees the end first (a vCPU on a guest power-off,
 * reset or error, or the main loop on a signal timeout) records why; later
 * requests are ignored so the first cause decides the exit status. The
 * main thread sleeps on the eventfd until then.
 */
#ifndef AGENTBOX_STOP_H
#define AGENTBOX_STOP_H

#include <pthread.h>
#include <stdbool.h>

enum stop_reason {
	STOP_NONE,
	/* value: the byte the guest wrote to the exit port */
	STOP_POWEROFF,
	/* triple fault, reboot=t, or a KVM reset request */
	STOP_RESET,
	/* KVM internal error or an exit we cannot handle */
	STOP_ERROR,
	/* value: the signal after which the guest did not power off */
	STOP_SIGNAL,
};

struct stop {
	pthread_mutex_t lock;
	enum stop_reason reason;
	int value;
	bool requested;
	int efd;
};

int stop_init(struct stop *s);
void stop_destroy(struct stop *s);

/* Record the end of the run; true if this was the first request. */
bool stop_request(struct stop *s, enum stop_reason reason, int value);

/* Cheap enough for every vCPU exit. */
bool stop_requested(struct stop *s);

/* The first request's reason and value (STOP_NONE before any). */
enum stop_reason stop_reason(struct stop *s, int *value);

#endif /* AGENTBOX_STOP_H */
