/* MP table bytes written out by hand from the MP specification 1.4. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "mptable.h"

#define SUITE	"mptable"
#define MEM	0x100000
#define MPF	0xf0000
#define MPC	0xf0010

static _Alignas(4096) uint8_t buf[MEM];

static bool init_mem(struct check *c, struct guest_mem *gm, uint64_t size)
{
	memset(buf, 0x77, sizeof(buf));
	return CHECK_INT(c, guest_mem_init(gm, buf, size, 0xc0000000ULL,
					   0x100000000ULL), 0);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static void test_floating_pointer(struct check *c)
{
	static const uint8_t want[16] = {
		'_', 'M', 'P', '_', 0x10, 0x00, 0x0f, 0x00,
		0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct guest_mem gm;
	uint8_t got[16];

	if (!init_mem(c, &gm, MEM) || !CHECK_INT(c, mptable_write(&gm, 2), 0))
		return;
	CHECK_U64(c, sum(buf + MPF, 16), 0);
	memcpy(got, buf + MPF, 16);
	got[10] = 0;				/* checksum checked above */
	CHECK_MEM(c, got, want, 16);
}

static void test_two_cpus(struct check *c)
{
	static const uint8_t cpus[2][20] = {
		{ 0x00, 0x00, 0x14, 0x03, 0x00, 0x06, 0x00, 0x00,
		  0x01, 0x02, 0x00, 0x00 },
		{ 0x00, 0x01, 0x14, 0x01, 0x00, 0x06, 0x00, 0x00,
		  0x01, 0x02, 0x00, 0x00 },
	};
	static const uint8_t bus_ioapic[16] = {
		0x01, 0x00, 'I', 'S', 'A', ' ', ' ', ' ',
		0x02, 0x02, 0x11, 0x01, 0x00, 0x00, 0xc0, 0xfe,
	};
	static const uint8_t lints[16] = {
		0x04, 0x03, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00,
		0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0x01,
	};
	/* 44 header + 2 * 20 CPUs + 8 bus + 8 IOAPIC + 26 * 8 interrupts */
	const unsigned int len = 44 + 40 + 16 + 26 * 8;
	const uint8_t *mpc = buf + MPC;
	uint8_t irq[8];
	unsigned int i;
	struct guest_mem gm;

	if (!init_mem(c, &gm, MEM) || !CHECK_INT(c, mptable_write(&gm, 2), 0))
		return;
	CHECK_MEM(c, mpc, "PCMP", 4);
	CHECK_U64(c, get16(mpc + 4), len);
	CHECK_U64(c, mpc[6], 4);
	CHECK_U64(c, sum(mpc, len), 0);
	CHECK_MEM(c, mpc + 8, "AGENTBOX", 8);
	CHECK_U64(c, get16(mpc + 34), 2 + 1 + 1 + 24 + 2);
	CHECK_U64(c, get32(mpc + 36), 0xfee00000);
	CHECK_MEM(c, mpc + 44, cpus, sizeof(cpus));
	CHECK_MEM(c, mpc + 84, bus_ioapic, sizeof(bus_ioapic));
	for (i = 0; i < 24; i++) {
		const uint8_t want[8] = { 0x03, 0x00, 0x00, 0x00,
					  0x00, i, 0x02, i };

		memcpy(irq, mpc + 100 + 8 * i, 8);
		CHECK_MEM(c, irq, want, 8);
	}
	CHECK_MEM(c, mpc + 100 + 24 * 8, lints, sizeof(lints));
	CHECK_U64(c, mpc[len], 0x77);
	CHECK_U64(c, mptable_size(2), 16 + len);
}

static void test_max_cpus(struct check *c)
{
	struct guest_mem gm;
	unsigned int len = 44 + 254 * 20 + 16 + 26 * 8;
	const uint8_t *mpc = buf + MPC;

	if (!init_mem(c, &gm, MEM) ||
	    !CHECK_INT(c, mptable_write(&gm, MPTABLE_MAX_CPUS), 0))
		return;
	CHECK_U64(c, sum(buf + MPF, 16), 0);
	CHECK_U64(c, get16(mpc + 4), len);
	CHECK_U64(c, sum(mpc, len), 0);
	/* Last CPU has APIC id 253; the IOAPIC takes 254. */
	CHECK_U64(c, mpc[44 + 253 * 20 + 1], 253);
	CHECK_U64(c, mpc[44 + 254 * 20 + 8 + 1], 254);
}

static void test_one_cpu_checksums(struct check *c)
{
	struct guest_mem gm;

	if (!init_mem(c, &gm, MEM) || !CHECK_INT(c, mptable_write(&gm, 1), 0))
		return;
	CHECK_U64(c, sum(buf + MPF, 16), 0);
	CHECK_U64(c, sum(buf + MPC, get16(buf + MPC + 4)), 0);
	CHECK_U64(c, buf[MPC + 44 + 3], 0x03);		/* enabled, BSP */
}

static void test_rejects(struct check *c)
{
	struct guest_mem gm;

	if (!init_mem(c, &gm, MEM))
		return;
	CHECK_INT(c, mptable_write(&gm, 0), -EINVAL);
	CHECK_INT(c, mptable_write(&gm, MPTABLE_MAX_CPUS + 1), -E2BIG);
	CHECK_INT(c, mptable_write(&gm, 1000), -E2BIG);
	CHECK_U64(c, buf[MPF], 0x77);
	if (init_mem(c, &gm, MPF + 0x100))
		CHECK_INT(c, mptable_write(&gm, 2), -EFAULT);
}

int main(void)
{
	RUN(SUITE, test_floating_pointer);
	RUN(SUITE, test_two_cpus);
	RUN(SUITE, test_max_cpus);
	RUN(SUITE, test_one_cpu_checksums);
	RUN(SUITE, test_rejects);
	return check_exit();
}
