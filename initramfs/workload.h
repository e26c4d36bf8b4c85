/*
 * Limits on a sandbox's workload: the containers dockerd starts and the
 * commands the guest agent runs share one cgroup, WORKLOAD_CGROUP_DIR,
 * whose memory, process and CPU limits leave room for the daemons that
 * keep the sandbox alive (init, dockerd, containerd, agentboxd).
 *
 * The host asks for limits on the kernel command line; the loader checks
 * its options and the init parses the parameters with these same
 * functions, so both accept exactly the same values. Header-only because
 * the init is one static file built with musl.
 */
#ifndef AGENTBOX_WORKLOAD_H
#define AGENTBOX_WORKLOAD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define WORKLOAD_MEM_PARAM	"agentbox.workload_mem"
#define WORKLOAD_PIDS_PARAM	"agentbox.workload_pids"
#define WORKLOAD_CPUS_PARAM	"agentbox.workload_cpus"

/* Below this not even a busybox container starts. */
#define WORKLOAD_MEM_MIN	(16ULL << 20)
#define WORKLOAD_PIDS_MIN	16UL
/* The kernel's PID_MAX_LIMIT on 64-bit. */
#define WORKLOAD_PIDS_MAX	4194304UL
/* CPUs are counted in hundredths; 0.01 is CFS's minimum quota of 1 ms. */
#define WORKLOAD_CPU_SCALE	100U
#define WORKLOAD_CPUS_MIN	1U
#define WORKLOAD_CPUS_MAX	(1024U * WORKLOAD_CPU_SCALE)
#define WORKLOAD_CPU_PERIOD_US	100000U

/* What the parsers accept, for the error lines on both sides. */
#define WORKLOAD_MEM_RULE	"not a size of at least 16M (like 256M or 2G)"
#define WORKLOAD_PIDS_RULE	"not a number from 16 to 4194304"
#define WORKLOAD_CPUS_RULE	"not a number of CPUs from 0.01 to 1024 (like 1.5)"

/*
 * Memory kept out of the workload's reach by default: the daemons' own
 * (dockerd and containerd together take about 120 MiB, each container's
 * shim about 11 MiB more) and the kernel's, which grows with RAM.
 */
#define WORKLOAD_MEM_RESERVE	(192ULL << 20)
/* Processes and threads kept for the daemons, of the kernel's total. */
#define WORKLOAD_PIDS_RESERVE	1024UL
#define WORKLOAD_PIDS_FLOOR	64UL

static inline bool workload_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits only, at most max: no sign, no blanks, no overflow. */
static inline int workload_parse_u64(const char **s, uint64_t max, uint64_t *v)
{
	const char *p = *s;
	uint64_t n = 0;

	if (!workload_digit(*p))
		return -EINVAL;
	for (; workload_digit(*p); p++) {
		if (n > (max - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*v = n;
	return 0;
}

/* A bare number is MiB, as for agentbox's and QEMU's --mem. */
static inline int workload_size_shift(const char *suffix)
{
	if (!suffix[0])
		return 20;
	if (suffix[1])
		return -1;
	switch (suffix[0]) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	}
	return -1;
}

static inline int workload_parse_mem(const char *s, uint64_t *bytes)
{
	uint64_t v;
	int shift;

	if (workload_parse_u64(&s, UINT64_MAX, &v))
		return -EINVAL;
	shift = workload_size_shift(s);
	if (shift < 0 || v > (UINT64_MAX >> shift) || (v << shift) < WORKLOAD_MEM_MIN)
		return -EINVAL;
	*bytes = v << shift;
	return 0;
}

static inline int workload_parse_pids(const char *s, uint64_t *pids)
{
	uint64_t v;

	if (workload_parse_u64(&s, UINT64_MAX, &v) || *s ||
	    v < WORKLOAD_PIDS_MIN || v > WORKLOAD_PIDS_MAX)
		return -EINVAL;
	*pids = v;
	return 0;
}

/* "1", "1.5" or "0.25" into hundredths; a third decimal is refused. */
static inline int workload_parse_cpus(const char *s, unsigned int *hundredths)
{
	uint64_t whole, frac = 0;
	const char *f;

	if (workload_parse_u64(&s, WORKLOAD_CPUS_MAX, &whole))
		return -EINVAL;
	whole *= WORKLOAD_CPU_SCALE;
	if (*s == '.') {
		f = ++s;
		if (workload_parse_u64(&s, UINT64_MAX, &frac) || s - f > 2)
			return -EINVAL;
		if (s - f == 1)
			frac *= 10;
	}
	if (*s || whole + frac < WORKLOAD_CPUS_MIN || whole + frac > WORKLOAD_CPUS_MAX)
		return -EINVAL;
	*hundredths = (unsigned int)(whole + frac);
	return 0;
}

/*
 * The defaults follow the guest's size. Memory: RAM less the reserve and
 * a sixteenth for the kernel, but never under a quarter of RAM.
 */
static inline uint64_t workload_default_mem(uint64_t ram)
{
	uint64_t reserve = WORKLOAD_MEM_RESERVE + ram / 16;

	if (ram < reserve || ram - reserve < ram / 4)
		return ram / 4;
	return ram - reserve;
}

/* All but a reserve of what the kernel allows (pid_max, threads-max). */
static inline uint64_t workload_default_pids(uint64_t kernel_max)
{
	if (kernel_max < WORKLOAD_PIDS_FLOOR + WORKLOAD_PIDS_RESERVE)
		return WORKLOAD_PIDS_FLOOR;
	return kernel_max - WORKLOAD_PIDS_RESERVE;
}

/* A tenth of every vCPU stays with the daemons. */
static inline unsigned int workload_default_cpus(unsigned int ncpu)
{
	return ncpu * WORKLOAD_CPU_SCALE * 9 / 10;
}

#endif
