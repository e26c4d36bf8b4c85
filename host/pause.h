/*
 * Pausing the vCPUs: the main thread asks, kicks every vCPU out of
 * KVM_RUN, and waits until each has parked in pause_point(). A vCPU parks
 * only between two KVM_RUNs, so whatever I/O the last exit started has
 * been completed by KVM (api.rst: KVM_RUN with immediate_exit finishes a
 * pending PIO/MMIO before it returns) and its registers are final: the
 * state a snapshot may save.
 */
#ifndef AGENTBOX_PAUSE_H
#define AGENTBOX_PAUSE_H

#include <pthread.h>
#include <stdbool.h>

#include "stop.h"

struct pause {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool requested;
	unsigned int parked;
};

int pause_init(struct pause *p);
void pause_destroy(struct pause *p);

/* vCPU thread, between KVM_RUNs: park while a pause is requested. */
void pause_point(struct pause *p, struct stop *stop);

/* Main thread: ask for a pause (then kick the vCPUs). */
void pause_request(struct pause *p);

/*
 * Wait until nr vCPUs have parked: 0, or -ECANCELED when the run ended
 * first (a parked-for-good vCPU never comes back).
 */
int pause_wait(struct pause *p, unsigned int nr, struct stop *stop);

/* Let every parked vCPU run again; also how teardown frees them. */
void pause_release(struct pause *p);

bool pause_is_requested(struct pause *p);

#endif /* AGENTBOX_PAUSE_H */
