/* Boot-phase names, the log line, and the timing marks. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agentbox-abi.h"
#include "boottimer.h"
#include "check.h"
#include "log.h"

#define SUITE	"boottimer"

static void test_phase_names(struct check *c)
{
	CHECK_STR(c, boot_phase_name(PHASE_INIT), "init");
	CHECK_STR(c, boot_phase_name(PHASE_ROOTFS), "rootfs");
	CHECK_STR(c, boot_phase_name(PHASE_DOCKERD_START),
		  "dockerd-start");
	CHECK_STR(c, boot_phase_name(PHASE_DOCKERD_READY),
		  "dockerd-ready");
	CHECK_STR(c, boot_phase_name(PHASE_POWEROFF), "poweroff");
	CHECK_STR(c, boot_phase_name(PHASE_CGROUPS), "cgroups");
	CHECK(c, boot_phase_name(0) == NULL);
	CHECK(c, boot_phase_name(7) == NULL);
	CHECK(c, boot_phase_name(255) == NULL);
}

static void test_format(struct check *c)
{
	char line[64];

	boottimer_format(line, sizeof(line), PHASE_DOCKERD_READY, 812.34);
	CHECK_STR(c, line, "boot phase dockerd-ready at 812.3 ms");
	boottimer_format(line, sizeof(line), 77, 0.05);
	CHECK_STR(c, line, "boot phase 77 at 0.1 ms");
}

static void test_marks(struct check *c)
{
	struct boottimer bt;
	unsigned int i;

	if (!CHECK_INT(c, boottimer_init(&bt), 0))
		return;
	usleep(2000);
	boottimer_mark(&bt, "vm");
	CHECK_INT(c, bt.nr, 1);
	CHECK_STR(c, bt.mark[0].name, "vm");
	CHECK(c, bt.mark[0].ms >= 1.9 && bt.mark[0].ms < 10000);
	for (i = 1; i < BOOTTIMER_MAX_MARKS + 2; i++)
		boottimer_mark(&bt, "a name far longer than the mark can hold");
	CHECK_INT(c, bt.nr, BOOTTIMER_MAX_MARKS);
	CHECK_INT(c, bt.lost, 2);
	CHECK_INT(c, strlen(bt.mark[1].name), BOOTTIMER_NAME_MAX - 1);
	boottimer_destroy(&bt);
}

static void test_guest_write(struct check *c)
{
	struct boottimer bt;
	uint8_t phase = PHASE_INIT;

	if (!CHECK_INT(c, boottimer_init(&bt), 0))
		return;
	boottimer_bus_ops.write(&bt, 0, &phase, 1);
	phase = 200;
	boottimer_bus_ops.write(&bt, 0, &phase, 1);
	CHECK_INT(c, bt.nr, 2);
	CHECK_STR(c, bt.mark[0].name, "guest init");
	CHECK_STR(c, bt.mark[1].name, "guest phase 200");
	boottimer_destroy(&bt);
}

/* A guest writing in a loop gets a few lines logged, not one per write. */
static void test_guest_flood(struct check *c)
{
	struct boottimer bt;
	unsigned int i;
	uint8_t phase;
	int fd;

	if (!CHECK_INT(c, boottimer_init(&bt), 0))
		return;
	fd = log_capture();
	for (i = 0; i < 10000; i++) {
		phase = i;
		boottimer_bus_ops.write(&bt, 0, &phase, 1);
	}
	CHECK_INT(c, log_release(fd), BOOTTIMER_LOG_MAX + 1);
	CHECK_INT(c, bt.guest_writes, 10000);
	CHECK_INT(c, bt.nr, BOOTTIMER_MAX_MARKS);
	boottimer_destroy(&bt);
}

int main(void)
{
	/* Device warnings are expected here; the checks say what matters. */
	log_set_fd(open("/dev/null", O_WRONLY));
	RUN(SUITE, test_phase_names);
	RUN(SUITE, test_format);
	RUN(SUITE, test_marks);
	RUN(SUITE, test_guest_write);
	RUN(SUITE, test_guest_flood);
	return check_exit();
}
