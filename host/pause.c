#include <errno.h>
#include <time.h>

#include "pause.h"

/* How often a waiting main thread looks at the stop flag. */
#define PAUSE_POLL_NS	(20 * 1000 * 1000)

int pause_init(struct pause *p)
{
	pthread_condattr_t attr;
	int err;

	p->requested = false;
	p->parked = 0;
	err = pthread_mutex_init(&p->lock, NULL);
	if (err)
		return -err;
	err = pthread_condattr_init(&attr);
	if (err)
		goto undo_mutex;
	err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(&p->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!err)
		return 0;
undo_mutex:
	pthread_mutex_destroy(&p->lock);
	return -err;
}

void pause_destroy(struct pause *p)
{
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

void pause_point(struct pause *p, struct stop *stop)
{
	pthread_mutex_lock(&p->lock);
	if (p->requested && !stop_requested(stop)) {
		p->parked++;
		pthread_cond_broadcast(&p->cond);
		while (p->requested)
			pthread_cond_wait(&p->cond, &p->lock);
		p->parked--;
	}
	pthread_mutex_unlock(&p->lock);
}

void pause_request(struct pause *p)
{
	pthread_mutex_lock(&p->lock);
	p->requested = true;
	pthread_mutex_unlock(&p->lock);
}

static void deadline_after(struct timespec *t, long ns)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_nsec += ns;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

int pause_wait(struct pause *p, unsigned int nr, struct stop *stop)
{
	struct timespec t;
	int err = 0;

	pthread_mutex_lock(&p->lock);
	while (p->parked < nr) {
		if (stop_requested(stop)) {
			err = -ECANCELED;
			break;
		}
		deadline_after(&t, PAUSE_POLL_NS);
		pthread_cond_timedwait(&p->cond, &p->lock, &t);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void pause_release(struct pause *p)
{
	pthread_mutex_lock(&p->lock);
	p->requested = false;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

bool pause_is_requested(struct pause *p)
{
	bool requested;

	pthread_mutex_lock(&p->lock);
	requested = p->requested;
	pthread_mutex_unlock(&p->lock);
	return requested;
}
