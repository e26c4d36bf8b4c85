#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "stop.h"

int stop_init(struct stop *s)
{
	int err;

	s->reason = STOP_NONE;
	s->value = 0;
	s->requested = false;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return -errno;
	err = pthread_mutex_init(&s->lock, NULL);
	if (err) {
		close(s->efd);
		return -err;
	}
	return 0;
}

void stop_destroy(struct stop *s)
{
	pthread_mutex_destroy(&s->lock);
	close(s->efd);
}

/* The counter cannot overflow: only the first request writes. */
static void wake(struct stop *s)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(s->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

bool stop_request(struct stop *s, enum stop_reason reason, int value)
{
	bool first;

	pthread_mutex_lock(&s->lock);
	first = !s->requested;
	if (first) {
		s->reason = reason;
		s->value = value;
		__atomic_store_n(&s->requested, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->lock);
	if (first)
		wake(s);
	return first;
}

bool stop_requested(struct stop *s)
{
	return __atomic_load_n(&s->requested, __ATOMIC_ACQUIRE);
}

enum stop_reason stop_reason(struct stop *s, int *value)
{
	enum stop_reason r;

	pthread_mutex_lock(&s->lock);
	r = s->reason;
	if (value)
		*value = s->value;
	pthread_mutex_unlock(&s->lock);
	return r;
}
