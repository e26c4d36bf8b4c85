/*
 * The thread of a virtio device that works its queues itself (vsock, net:
 * devices with a notify hook, see virtio_mmio.h). It loops on the
 * device's poll function, which sleeps until the device's own file
 * descriptors or a kick wake it. Queue notifies, resume and stop kick it
 * through an eventfd, so a thread asleep in poll() sees them at once.
 */
#ifndef AGENTBOX_DEV_THREAD_H
#define AGENTBOX_DEV_THREAD_H

#include <pthread.h>
#include <stdbool.h>

struct dev_thread {
	/* For messages: "virtio-<name>". */
	const char *name;
	/* The device polls it for POLLIN beside its own descriptors. */
	int kick_fd;
	/* One pass: 0, or -errno to end the thread. */
	int (*poll)(void *dev, int timeout_ms);
	void *dev;
	pthread_t thread;
	bool started;
	bool stopping;
};

/* The eventfd: 0 or -errno. The thread starts later, by dev_thread_start. */
int dev_thread_open(struct dev_thread *d, const char *name,
		    int (*poll)(void *dev, int timeout_ms), void *dev);
int dev_thread_start(struct dev_thread *d);
/* Stop and join the thread if it runs, and close the eventfd. */
void dev_thread_close(struct dev_thread *d);

void dev_thread_kick(struct dev_thread *d);
/* Consume the kicks so far, once the thread is awake. */
void dev_thread_drain(struct dev_thread *d);

#endif /* AGENTBOX_DEV_THREAD_H */
