/*
 * Timings: the VMM's own start-up steps, and the guest's boot phases,
 * which the guest init reports by writing one byte (enum boot_phase in
 * agentbox-abi.h) to the boot-timer MMIO page. Every phase is logged as
 * it happens, "agentbox: boot phase dockerd-ready at 812.3 ms", in
 * milliseconds since the VMM started.
 */
#ifndef AGENTBOX_BOOTTIMER_H
#define AGENTBOX_BOOTTIMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "bus.h"

#define BOOTTIMER_MAX_MARKS	32
#define BOOTTIMER_NAME_MAX	32
/*
 * Guest writes logged before the rest go unlogged: a real init writes a
 * handful, and a guest writing in a loop must not fill the host's disk
 * through our stderr.
 */
#define BOOTTIMER_LOG_MAX	64

struct boottimer_mark {
	char name[BOOTTIMER_NAME_MAX];
	double ms;
};

struct boottimer {
	struct timespec start;
	pthread_mutex_t lock;
	struct boottimer_mark mark[BOOTTIMER_MAX_MARKS];
	unsigned int nr;
	/* Marks that did not fit, so the report can say it is partial. */
	unsigned int lost;
	/* Every write the guest made, logged or not. */
	unsigned long guest_writes;
	/* An eventfd the guest's dockerd-ready phase signals, or -1. */
	int ready_fd;
};

extern const struct bus_ops boottimer_bus_ops;

/* Start the clock: call first thing in main. */
int boottimer_init(struct boottimer *bt);
void boottimer_destroy(struct boottimer *bt);

double boottimer_ms(const struct boottimer *bt);

/* Record that a VMM step (or guest phase) finished now. */
void boottimer_mark(struct boottimer *bt, const char *name);

/* The log line for phase at ms, without prefix or newline. */
void boottimer_format(char *buf, size_t size, unsigned int phase, double ms);

/* The --timings report: one line per mark, to stderr. */
void boottimer_report(struct boottimer *bt);

#endif /* AGENTBOX_BOOTTIMER_H */
