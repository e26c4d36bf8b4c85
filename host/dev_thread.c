#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "dev_thread.h"
#include "log.h"

int dev_thread_open(struct dev_thread *d, const char *name,
		    int (*poll)(void *dev, int timeout_ms), void *dev)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->poll = poll;
	d->dev = dev;
	d->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return d->kick_fd < 0 ? -errno : 0;
}

static void *run(void *arg)
{
	struct dev_thread *d = arg;
	int err;

	while (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE)) {
		err = d->poll(d->dev, -1);
		if (err) {
			pr_err("virtio-%s: poll: %s", d->name, strerror(-err));
			break;
		}
	}
	return NULL;
}

int dev_thread_start(struct dev_thread *d)
{
	int err;

	err = pthread_create(&d->thread, NULL, run, d);
	if (err)
		return -err;
	d->started = true;
	return 0;
}

void dev_thread_close(struct dev_thread *d)
{
	if (d->started) {
		__atomic_store_n(&d->stopping, true, __ATOMIC_RELEASE);
		dev_thread_kick(d);
		pthread_join(d->thread, NULL);
		d->started = false;
	}
	if (d->kick_fd >= 0)
		close(d->kick_fd);
	d->kick_fd = -1;
}

/* A full counter (EAGAIN) is still a pending kick. */
void dev_thread_kick(struct dev_thread *d)
{
	uint64_t one = 1;

	if (write(d->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("virtio-%s: kick: %s", d->name, strerror(errno));
}

void dev_thread_drain(struct dev_thread *d)
{
	uint64_t count;

	if (read(d->kick_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		pr_warn("virtio-%s: kick: %s", d->name, strerror(errno));
}
