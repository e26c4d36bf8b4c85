/*
 * Prints this host's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW.
 *
 * QEMU TCG's guest TSC is the host's TSC, but the L1 kernel cannot always
 * measure it: its PIT calibration is timing-sensitive and fails on many
 * TCG boots, and microvm has no HPET or ACPI PM timer to fall back on.
 * tests/loader-l1.test hands the L1 this value as tsc_early_khz= instead.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

/* One (TSC, ns) pair, from the tightest of several readings. */
static void sample(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 20; i++) {
		struct timespec ts;
		uint64_t t0 = __rdtsc();

		clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
		uint64_t t1 = __rdtsc();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
	}
}

int main(void)
{
	struct timespec wait = { .tv_nsec = 200000000 };
	uint64_t tsc0, ns0, tsc1, ns1;

	sample(&tsc0, &ns0);
	nanosleep(&wait, NULL);
	sample(&tsc1, &ns1);
	if (ns1 <= ns0 || tsc1 <= tsc0) {
		fprintf(stderr, "tsc-khz: the TSC or the clock did not advance\n");
		return 1;
	}
	printf("%llu\n", (unsigned long long)((tsc1 - tsc0) * 1000000u / (ns1 - ns0)));
	return 0;
}
