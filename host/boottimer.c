#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "agentbox-abi.h"
#include "boottimer.h"
#include "log.h"

int boottimer_init(struct boottimer *bt)
{
	memset(bt, 0, sizeof(*bt));
	bt->ready_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &bt->start);
	return -pthread_mutex_init(&bt->lock, NULL);
}

void boottimer_destroy(struct boottimer *bt)
{
	pthread_mutex_destroy(&bt->lock);
}

double boottimer_ms(const struct boottimer *bt)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - bt->start.tv_sec) * 1e3 +
	       (now.tv_nsec - bt->start.tv_nsec) / 1e6;
}

static void add_mark(struct boottimer *bt, const char *name, double ms)
{
	struct boottimer_mark *m;

	pthread_mutex_lock(&bt->lock);
	if (bt->nr == BOOTTIMER_MAX_MARKS) {
		bt->lost++;
	} else {
		m = &bt->mark[bt->nr++];
		snprintf(m->name, sizeof(m->name), "%s", name);
		m->ms = ms;
	}
	pthread_mutex_unlock(&bt->lock);
}

void boottimer_mark(struct boottimer *bt, const char *name)
{
	add_mark(bt, name, boottimer_ms(bt));
}

void boottimer_format(char *buf, size_t size, unsigned int phase, double ms)
{
	const char *name = boot_phase_name(phase);

	if (name)
		snprintf(buf, size, "boot phase %s at %.1f ms", name, ms);
	else
		snprintf(buf, size, "boot phase %u at %.1f ms", phase, ms);
}

/* Count a guest write; whether it is one of those we still log. */
static bool count_write(struct boottimer *bt, unsigned long *nth)
{
	pthread_mutex_lock(&bt->lock);
	*nth = ++bt->guest_writes;
	pthread_mutex_unlock(&bt->lock);
	return *nth <= BOOTTIMER_LOG_MAX;
}

/* The guest's write: log it at once, and keep it for the report. */
static void boottimer_write(void *dev, uint64_t offset, const uint8_t *data,
			    unsigned int len)
{
	struct boottimer *bt = dev;
	double ms = boottimer_ms(bt);
	char line[64], name[BOOTTIMER_NAME_MAX];
	const char *phase = boot_phase_name(data[0]);
	unsigned long nth;

	(void)offset;
	(void)len;
	boottimer_format(line, sizeof(line), data[0], ms);
	if (count_write(bt, &nth))
		pr_info("%s", line);
	else if (nth == BOOTTIMER_LOG_MAX + 1)
		pr_warn("boot timer: the guest wrote more than %d phases; not logging the rest",
			BOOTTIMER_LOG_MAX);
	if (phase)
		snprintf(name, sizeof(name), "guest %s", phase);
	else
		snprintf(name, sizeof(name), "guest phase %u", data[0]);
	add_mark(bt, name, ms);
	if (data[0] == PHASE_DOCKERD_READY && bt->ready_fd >= 0)
		eventfd_write(bt->ready_fd, 1);
}

const struct bus_ops boottimer_bus_ops = {
	/* Reads see an empty bus: all ones. */
	.read = NULL,
	.write = boottimer_write,
};

void boottimer_report(struct boottimer *bt)
{
	double prev = 0;
	unsigned int i;

	pthread_mutex_lock(&bt->lock);
	pr_info("timings (ms since start, +ms since the previous line):");
	for (i = 0; i < bt->nr; i++) {
		pr_info("  %-24s %9.1f  +%.1f", bt->mark[i].name,
			bt->mark[i].ms, bt->mark[i].ms - prev);
		prev = bt->mark[i].ms;
	}
	if (bt->lost)
		pr_info("  (%u later marks not recorded)", bt->lost);
	if (bt->guest_writes > BOOTTIMER_LOG_MAX)
		pr_info("  (the guest wrote %lu phases in all)",
			bt->guest_writes);
	pthread_mutex_unlock(&bt->lock);
}
