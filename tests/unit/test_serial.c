/*
 * The 16550A as Linux's 8250 driver probes and drives it, the bounded
 * console buffer behind it, and the byte ring both use. Register values
 * are spelled out from the 16550 data sheet, not taken from the headers
 * the device uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "console.h"
#include "ring.h"
#include "serial.h"
#include "snapshot.h"

#define SUITE	"serial"

#define RBR	0
#define THR	0
#define DLL	0
#define IER	1
#define DLM	1
#define IIR	2
#define FCR	2
#define LCR	3
#define MCR	4
#define LSR	5
#define MSR	6
#define SCR	7

struct irq_rec {
	bool level;
	unsigned int raises;
	unsigned int lowers;
};

static int rec_set(void *ctx, unsigned int gsi, bool level)
{
	struct irq_rec *r = ctx;

	(void)gsi;
	if (level)
		r->raises++;
	else
		r->lowers++;
	r->level = level;
	return 0;
}

static struct console con;
static struct serial uart;
static struct irq_rec irq;

/* A UART whose console is never drained: its ring is the output. */
static bool setup(struct check *c)
{
	struct irq_line line = { .set = rec_set, .ctx = &irq, .gsi = 4 };

	memset(&irq, 0, sizeof(irq));
	if (!CHECK_INT(c, console_init(&con, -1), 0))
		return false;
	return CHECK_INT(c, serial_init(&uart, &con, &line), 0);
}

static void teardown(void)
{
	serial_destroy(&uart);
	console_destroy(&con);
}

static uint8_t rd(unsigned int reg)
{
	uint8_t v = 0;

	serial_bus_ops.read(&uart, reg, &v, 1);
	return v;
}

static void wr(unsigned int reg, uint8_t v)
{
	serial_bus_ops.write(&uart, reg, &v, 1);
}

static void test_ring(struct check *c)
{
	uint8_t buf[8], out[8];
	struct ring r;

	ring_init(&r, buf, sizeof(buf));
	CHECK(c, ring_empty(&r));
	CHECK_INT(c, ring_put(&r, (const uint8_t *)"abcdef", 6), 6);
	CHECK_INT(c, ring_get(&r, out, 4), 4);
	CHECK_MEM(c, out, "abcd", 4);
	/* Wraps around the end of the buffer. */
	CHECK_INT(c, ring_put(&r, (const uint8_t *)"ghijklmn", 8), 6);
	CHECK_INT(c, ring_len(&r), 8);
	CHECK_INT(c, ring_space(&r), 0);
	CHECK_INT(c, ring_put(&r, (const uint8_t *)"z", 1), 0);
	CHECK_INT(c, ring_get(&r, out, 8), 8);
	CHECK_MEM(c, out, "efghijkl", 8);
	CHECK_INT(c, ring_get(&r, out, 8), 0);
	ring_put(&r, (const uint8_t *)"xy", 2);
	ring_clear(&r);
	CHECK(c, ring_empty(&r));
}

static void test_reset_state(struct check *c)
{
	if (!setup(c))
		return;
	CHECK_INT(c, rd(LSR), 0x60);		/* THRE | TEMT */
	CHECK_INT(c, rd(IIR), 0x01);		/* no interrupt, no FIFO */
	CHECK_INT(c, rd(IER), 0);
	CHECK_INT(c, rd(MSR), 0xb0);		/* DCD | DSR | CTS */
	CHECK_INT(c, rd(LCR), 0x03);
	CHECK(c, !irq.level);
	teardown();
}

static void test_transmit(struct check *c)
{
	uint8_t out[4];

	if (!setup(c))
		return;
	wr(THR, 'h');
	wr(THR, 'i');
	CHECK_INT(c, ring_get(&con.ring, out, sizeof(out)), 2);
	CHECK_MEM(c, out, "hi", 2);
	CHECK_INT(c, rd(LSR), 0x60);
	/* Without ETBEI nothing is signalled. */
	CHECK_INT(c, irq.raises, 0);
	teardown();
}

static void test_ier_mask_and_scratch(struct check *c)
{
	if (!setup(c))
		return;
	/* Linux's XScale probe: bit 6 (UUE) must not stick. */
	wr(IER, 0xff);
	CHECK_INT(c, rd(IER), 0x0f);
	wr(IER, 0);
	wr(SCR, 0x5a);
	CHECK_INT(c, rd(SCR), 0x5a);
	wr(MCR, 0xff);
	CHECK_INT(c, rd(MCR), 0x1f);
	teardown();
}

static void test_fifo_is_16550a(struct check *c)
{
	if (!setup(c))
		return;
	wr(FCR, 0x01);
	CHECK_INT(c, rd(IIR) >> 6, 3);
	/* IIR never reads 0 (a fake EFR) and bit 4 never tracks LOOP. */
	wr(LCR, 0xbf);
	CHECK(c, rd(IIR) != 0);
	wr(LCR, 0x80);
	CHECK(c, rd(IIR) != 0);
	wr(LCR, 0xe0);
	CHECK_INT(c, rd(IIR) & 0x10, 0);
	wr(LCR, 0);
	/* No 16750: bit 5 stays clear with the 64-byte FIFO bit set. */
	wr(FCR, 0x21);
	CHECK_INT(c, rd(IIR) >> 5, 6);
	teardown();
}

static void test_thre_interrupt(struct check *c)
{
	if (!setup(c))
		return;
	wr(FCR, 0x01);
	wr(IER, 0x02);				/* ETBEI on: THR is empty */
	CHECK(c, irq.level);
	CHECK_INT(c, rd(IIR), 0xc2);
	/* Reading IIR acknowledged it. */
	CHECK_INT(c, rd(IIR), 0xc1);
	CHECK(c, !irq.level);
	/* Linux's UART_BUG_THRE test: re-enabling re-asserts it. */
	wr(IER, 0);
	wr(IER, 0x02);
	CHECK_INT(c, rd(IIR), 0xc2);
	/* Each byte sent empties THR again. */
	wr(THR, 'x');
	CHECK(c, irq.level);
	CHECK_INT(c, irq.raises, 3);
	/* Turning ETBEI off drops it without an IIR read. */
	wr(IER, 0);
	CHECK(c, !irq.level);
	CHECK_INT(c, rd(IIR), 0xc1);
	teardown();
}

static void test_receive(struct check *c)
{
	if (!setup(c))
		return;
	CHECK_INT(c, serial_rx_push(&uart, (const uint8_t *)"ab", 2), 2);
	CHECK_INT(c, rd(LSR), 0x61);		/* DR */
	CHECK(c, !irq.level);
	wr(IER, 0x01);				/* ERBFI */
	CHECK(c, irq.level);
	CHECK_INT(c, rd(IIR), 0x04);
	CHECK_INT(c, rd(RBR), 'a');
	CHECK(c, irq.level);
	CHECK_INT(c, rd(RBR), 'b');
	CHECK(c, !irq.level);
	CHECK_INT(c, rd(LSR), 0x60);
	CHECK_INT(c, rd(IIR), 0x01);
	teardown();
}

static void test_receive_before_transmit(struct check *c)
{
	if (!setup(c))
		return;
	wr(IER, 0x03);
	serial_rx_push(&uart, (const uint8_t *)"q", 1);
	/* Data ready outranks THRE, and reading IIR keeps THRE pending. */
	CHECK_INT(c, rd(IIR), 0x04);
	CHECK_INT(c, rd(IIR), 0x04);
	CHECK_INT(c, rd(RBR), 'q');
	CHECK_INT(c, rd(IIR), 0x02);
	CHECK_INT(c, rd(IIR), 0x01);
	teardown();
}

static void test_fifo_clear(struct check *c)
{
	if (!setup(c))
		return;
	wr(FCR, 0x01);
	serial_rx_push(&uart, (const uint8_t *)"abc", 3);
	wr(FCR, 0x03);				/* clear the receive FIFO */
	CHECK_INT(c, rd(LSR) & 1, 0);
	teardown();
}

static void test_divisor_latch(struct check *c)
{
	uint8_t out[2];

	if (!setup(c))
		return;
	wr(LCR, 0x83);
	wr(DLL, 0x01);
	wr(DLM, 0x00);
	CHECK_INT(c, rd(DLL), 0x01);
	CHECK_INT(c, rd(DLM), 0x00);
	wr(LCR, 0x03);
	/* Neither went to THR or IER. */
	CHECK_INT(c, ring_get(&con.ring, out, sizeof(out)), 0);
	CHECK_INT(c, rd(IER), 0);
	teardown();
}

static void test_loopback(struct check *c)
{
	uint8_t out[2];

	if (!setup(c))
		return;
	/* Linux's loopback probe: LOOP | OUT2 | RTS reads back as 0x90. */
	wr(MCR, 0x1a);
	CHECK_INT(c, rd(MSR) & 0xf0, 0x90);
	wr(MCR, 0x1f);
	CHECK_INT(c, rd(MSR) & 0xf0, 0xf0);
	wr(THR, 'L');
	CHECK_INT(c, rd(LSR) & 1, 1);
	CHECK_INT(c, rd(RBR), 'L');
	CHECK_INT(c, ring_get(&con.ring, out, sizeof(out)), 0);
	wr(MCR, 0x0b);
	CHECK_INT(c, rd(MSR), 0xb0);
	teardown();
}

static void test_inject_all_or_nothing(struct check *c)
{
	static uint8_t fill[SERIAL_RX_SIZE];
	const char line[] = "\nagentbox:poweroff\n";

	if (!setup(c))
		return;
	CHECK_INT(c, serial_rx_push(&uart, fill, SERIAL_RX_SIZE - 5),
		  SERIAL_RX_SIZE - 5);
	CHECK_INT(c, serial_rx_space(&uart), 5);
	CHECK(c, !serial_rx_inject(&uart, (const uint8_t *)line,
				   sizeof(line) - 1));
	CHECK_INT(c, serial_rx_space(&uart), 5);
	/* A full FIFO takes only what fits. */
	CHECK_INT(c, serial_rx_push(&uart, fill, 10), 5);
	while (rd(LSR) & 1)
		rd(RBR);
	CHECK(c, serial_rx_inject(&uart, (const uint8_t *)line,
				  sizeof(line) - 1));
	CHECK_INT(c, rd(RBR), '\n');
	CHECK_INT(c, rd(RBR), 'a');
	teardown();
}

/* A guest that floods an undrained console loses bytes, never blocks. */
static void test_flood_is_bounded(struct check *c)
{
	unsigned int i, extra = 1000;
	int err = -1;

	if (!setup(c))
		return;
	for (i = 0; i < CONSOLE_BUF_SIZE + extra; i++)
		wr(THR, 'f');
	CHECK_INT(c, ring_len(&con.ring), CONSOLE_BUF_SIZE);
	CHECK_U64(c, console_dropped(&con, &err), extra);
	CHECK_INT(c, err, 0);
	CHECK_INT(c, console_flush(&con, 10), -ETIMEDOUT);
	teardown();
}

static void test_console_writer(struct check *c)
{
	char out[16] = "";
	int p[2];

	if (!CHECK_INT(c, pipe(p), 0))
		return;
	if (!CHECK_INT(c, console_init(&con, p[1]), 0))
		return;
	if (!CHECK_INT(c, console_start(&con), 0))
		return;
	console_write(&con, (const uint8_t *)"hello", 5);
	CHECK_INT(c, console_flush(&con, 5000), 0);
	CHECK_INT(c, read(p[0], out, sizeof(out)), 5);
	CHECK_STR(c, out, "hello");
	CHECK_INT(c, console_stop(&con, 5000), 0);
	CHECK_U64(c, console_dropped(&con, NULL), 0);
	console_destroy(&con);
	close(p[0]);
	close(p[1]);
}

static void test_console_write_error(struct check *c)
{
	int p[2], err = 0;

	signal(SIGPIPE, SIG_IGN);
	if (!CHECK_INT(c, pipe(p), 0))
		return;
	close(p[0]);
	if (!CHECK_INT(c, console_init(&con, p[1]), 0))
		return;
	if (!CHECK_INT(c, console_start(&con), 0))
		return;
	console_write(&con, (const uint8_t *)"lost", 4);
	CHECK_INT(c, console_flush(&con, 5000), 0);
	console_write(&con, (const uint8_t *)"too", 3);
	CHECK_INT(c, console_stop(&con, 5000), 0);
	CHECK_U64(c, console_dropped(&con, &err), 7);
	CHECK_INT(c, err, EPIPE);
	console_destroy(&con);
	close(p[1]);
}

/*
 * A UART mid-conversation: divisor, line settings, FIFOs, both
 * interrupts enabled, received bytes that wrap the FIFO's end.
 */
static void busy_uart(void)
{
	static const uint8_t junk[SERIAL_RX_SIZE - 2];
	size_t i;

	wr(LCR, 0x80);
	wr(DLL, 0x01);
	wr(DLM, 0x02);
	wr(LCR, 0x1b);
	wr(FCR, 0x01);
	wr(MCR, 0x0b);
	wr(SCR, 0x5a);
	/* Junk in and out first, so the four bytes straddle the FIFO's end. */
	serial_rx_push(&uart, junk, sizeof(junk));
	for (i = 0; i < sizeof(junk); i++)
		rd(RBR);
	serial_rx_push(&uart, (const uint8_t *)"abcd", 4);
	wr(IER, 0x03);
}

static void test_snapshot_round_trip(struct check *c)
{
	static struct snap_index idx;
	struct snap_builder b;
	char why[256] = "";
	uint8_t got[4];
	size_t i;

	snap_builder_init(&b);
	if (!setup(c))
		return;
	busy_uart();
	CHECK_INT(c, serial_save(&uart, &b, why, sizeof(why)), 0);
	teardown();
	if (!CHECK_INT(c, snap_reparse(&b, &idx), 0) || !setup(c))
		goto out;
	if (!CHECK_INT(c, serial_restore(&uart, &idx, why, sizeof(why)), 0))
		check_fail(c, "%s", why);
	/* The line is up again, and the guest sees the UART it left. */
	CHECK(c, irq.level);
	CHECK_INT(c, irq.raises, 1);
	CHECK_INT(c, rd(LCR), 0x1b);
	CHECK_INT(c, rd(MCR), 0x0b);
	CHECK_INT(c, rd(SCR), 0x5a);
	CHECK_INT(c, rd(IER), 0x03);
	CHECK_INT(c, rd(IIR), 0xc4);		/* data ready, FIFOs on */
	for (i = 0; i < sizeof(got); i++)
		got[i] = rd(RBR);
	CHECK_MEM(c, got, "abcd", 4);
	CHECK_INT(c, rd(IIR), 0xc2);		/* then THRE, still latched */
	CHECK_INT(c, rd(IIR), 0xc1);
	CHECK(c, !irq.level);
	wr(LCR, 0x9b);
	CHECK_INT(c, rd(DLL), 0x01);
	CHECK_INT(c, rd(DLM), 0x02);
	teardown();
out:
	snap_builder_free(&b);
}

/* A UART at reset, as a section: the base the refusals spoil. */
static const uint8_t quiet[] = { 0, 0x03, 0, 0, 0, 12, 0, 0, 2, 0, 'h', 'i' };

static int restore_uart(const struct snap_index *idx, char *why, size_t n)
{
	return serial_restore(&uart, idx, why, n);
}

static void refused(struct check *c, const uint8_t *p, size_t len,
		    const char *want)
{
	check_refused(c, SNAP_SEC_SERIAL, p, len, restore_uart, want);
}

static void test_snapshot_refused(struct check *c)
{
	static struct snap_index idx;
	uint8_t p[sizeof(quiet) + 1] = { 0 };
	char why[256] = "";

	if (!setup(c))
		return;
	memset(&idx, 0, sizeof(idx));
	CHECK_INT(c, serial_restore(&uart, &idx, why, sizeof(why)), -EINVAL);
	CHECK_STR(c, why, "state: serial: missing");
	refused(c, quiet, sizeof(quiet) - 1, "state: serial: 11 bytes, not");
	memcpy(p, quiet, sizeof(quiet));
	refused(c, p, sizeof(quiet) + 1, "state: serial: 13 bytes, not");
	p[8] = 0x01;
	p[9] = 0x04;				/* 1025 bytes */
	refused(c, p, sizeof(quiet), "state: serial: 1025 bytes received");
	memcpy(p, quiet, sizeof(quiet));
	p[0] = 0x10;
	refused(c, p, sizeof(quiet), "state: serial: IER 0x10");
	memcpy(p, quiet, sizeof(quiet));
	p[7] = 0x04;
	refused(c, p, sizeof(quiet), "state: serial: flags 0x04");
	/* Nothing of any of them reached the UART. */
	CHECK_INT(c, rd(LCR), 0x03);
	CHECK_INT(c, rd(LSR), 0x60);
	CHECK(c, !irq.level);
	teardown();
}

int main(void)
{
	RUN(SUITE, test_ring);
	RUN(SUITE, test_reset_state);
	RUN(SUITE, test_transmit);
	RUN(SUITE, test_ier_mask_and_scratch);
	RUN(SUITE, test_fifo_is_16550a);
	RUN(SUITE, test_thre_interrupt);
	RUN(SUITE, test_receive);
	RUN(SUITE, test_receive_before_transmit);
	RUN(SUITE, test_fifo_clear);
	RUN(SUITE, test_divisor_latch);
	RUN(SUITE, test_loopback);
	RUN(SUITE, test_inject_all_or_nothing);
	RUN(SUITE, test_flood_is_bounded);
	RUN(SUITE, test_console_writer);
	RUN(SUITE, test_console_write_error);
	RUN(SUITE, test_snapshot_round_trip);
	RUN(SUITE, test_snapshot_refused);
	return check_exit();
}
