#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/serial_reg.h>

#include "serial.h"
#include "snapshot.h"
#include "snapshot_wire.h"

/* IIR bits 7:6 read 11 once FIFOs are on: what makes Linux say 16550A. */
#define IIR_FIFO_BITS		0xc0
#define IER_MASK		0x0f
#define MCR_MASK		0x1f
#define FCR_KEEP		0xc9	/* enable, DMA mode, trigger level */
/* With nothing attached the modem lines say "ready and connected". */
#define MSR_IDLE		(UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

/* The snapshot's flags byte, and its largest payload. */
#define SNAP_THRI		(1U << 0)
#define SNAP_IRQ		(1U << 1)
#define SNAP_REGS		8
#define SNAP_MAX		(SNAP_REGS + 2 + SERIAL_RX_SIZE)

int serial_init(struct serial *s, struct console *con,
		const struct irq_line *irq)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		return -err;
	s->con = con;
	s->irq = *irq;
	/* 9600 baud, 8n1: what the chip holds after reset. */
	s->dll = 12;
	s->lcr = 0x03;
	ring_init(&s->rx, s->rx_buf, sizeof(s->rx_buf));
	return 0;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

static bool dlab(const struct serial *s)
{
	return s->lcr & UART_LCR_DLAB;
}

static bool loopback(const struct serial *s)
{
	return s->mcr & UART_MCR_LOOP;
}

/* The highest-priority pending interrupt, as IIR reports it. */
static uint8_t pending_iir(const struct serial *s)
{
	if ((s->ier & UART_IER_RDI) && !ring_empty(&s->rx))
		return UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thri_pending)
		return UART_IIR_THRI;
	return UART_IIR_NO_INT;
}

/* The line follows "an interrupt is pending", changing only on edges. */
static void update_irq(struct serial *s)
{
	bool level = pending_iir(s) != UART_IIR_NO_INT;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	irq_line_set(&s->irq, level);
}

static uint8_t read_rbr(struct serial *s)
{
	uint8_t byte = 0;

	ring_get(&s->rx, &byte, 1);
	return byte;
}

static uint8_t read_iir(struct serial *s)
{
	uint8_t iir = pending_iir(s);

	/* Reading IIR acknowledges a THRE interrupt, and only that one. */
	if (iir == UART_IIR_THRI)
		s->thri_pending = false;
	if (s->fcr & UART_FCR_ENABLE_FIFO)
		iir |= IIR_FIFO_BITS;
	return iir;
}

static uint8_t read_msr(const struct serial *s)
{
	uint8_t msr = 0;

	if (!loopback(s))
		return MSR_IDLE;
	/* In loopback the modem outputs come back as the modem inputs. */
	if (s->mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	return msr;
}

static uint8_t read_lsr(const struct serial *s)
{
	uint8_t lsr = UART_LSR_THRE | UART_LSR_TEMT;

	if (!ring_empty(&s->rx))
		lsr |= UART_LSR_DR;
	return lsr;
}

static uint8_t read_reg(struct serial *s, unsigned int reg)
{
	switch (reg) {
	case UART_RX:
		return dlab(s) ? s->dll : read_rbr(s);
	case UART_IER:
		return dlab(s) ? s->dlm : s->ier;
	case UART_IIR:
		return read_iir(s);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return read_lsr(s);
	case UART_MSR:
		return read_msr(s);
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

static void write_thr(struct serial *s, uint8_t byte)
{
	if (loopback(s))
		ring_put(&s->rx, &byte, 1);
	else
		console_write(s->con, &byte, 1);
	/* The byte left at once; THR is empty again. */
	s->thri_pending = true;
}

/*
 * Enabling the THRE interrupt while THR is empty raises it, even if it
 * was acknowledged before: Linux's start-up test (UART_BUG_THRE) checks
 * for exactly that, and its transmit path relies on it.
 */
static void write_ier(struct serial *s, uint8_t val)
{
	uint8_t changed = (s->ier ^ val) & IER_MASK;

	s->ier = val & IER_MASK;
	if (changed & UART_IER_THRI)
		s->thri_pending = s->ier & UART_IER_THRI;
}

static void write_fcr(struct serial *s, uint8_t val)
{
	if ((val & UART_FCR_CLEAR_RCVR) ||
	    ((val ^ s->fcr) & UART_FCR_ENABLE_FIFO))
		ring_clear(&s->rx);
	s->fcr = val & FCR_KEEP;
}

static void write_reg(struct serial *s, unsigned int reg, uint8_t val)
{
	switch (reg) {
	case UART_TX:
		if (dlab(s))
			s->dll = val;
		else
			write_thr(s, val);
		break;
	case UART_IER:
		if (dlab(s))
			s->dlm = val;
		else
			write_ier(s, val);
		break;
	case UART_FCR:
		write_fcr(s, val);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & MCR_MASK;
		break;
	case UART_SCR:
		s->scr = val;
		break;
	}
	/* LSR and MSR writes (factory test modes) are ignored. */
}

/* A wider access is split into byte cycles, as the ISA bus would. */
static void serial_read(void *dev, uint64_t offset, uint8_t *data,
			unsigned int len)
{
	struct serial *s = dev;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len; i++)
		data[i] = read_reg(s, offset + i);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *dev, uint64_t offset, const uint8_t *data,
			 unsigned int len)
{
	struct serial *s = dev;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len; i++)
		write_reg(s, offset + i, data[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_read,
	.write = serial_write,
};

size_t serial_rx_space(struct serial *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = ring_space(&s->rx);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_push(struct serial *s, const uint8_t *p, size_t n)
{
	size_t stored;

	pthread_mutex_lock(&s->lock);
	stored = ring_put(&s->rx, p, n);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return stored;
}

bool serial_rx_inject(struct serial *s, const uint8_t *p, size_t n)
{
	bool fits;

	pthread_mutex_lock(&s->lock);
	fits = ring_space(&s->rx) >= n;
	if (fits) {
		ring_put(&s->rx, p, n);
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return fits;
}

/* A section as read back, checked before any of it reaches the UART. */
struct serial_snap {
	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t fcr;
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	uint8_t flags;
	uint16_t rx_len;
	uint8_t rx[SERIAL_RX_SIZE];
};

static void pack(struct serial *s, struct snap_writer *w)
{
	uint8_t rx[SERIAL_RX_SIZE];
	size_t len = ring_peek(&s->rx, rx, sizeof(rx));

	snap_put_u8(w, s->ier);
	snap_put_u8(w, s->lcr);
	snap_put_u8(w, s->mcr);
	snap_put_u8(w, s->fcr);
	snap_put_u8(w, s->scr);
	snap_put_u8(w, s->dll);
	snap_put_u8(w, s->dlm);
	snap_put_u8(w, (s->thri_pending ? SNAP_THRI : 0) |
		       (s->irq_level ? SNAP_IRQ : 0));
	snap_put_u16(w, len);
	snap_put_bytes(w, rx, len);
}

int serial_save(struct serial *s, struct snap_builder *b, char *why,
		size_t n)
{
	uint8_t buf[SNAP_MAX];
	struct snap_writer w;
	int err;

	snap_writer_init(&w, buf, sizeof(buf));
	pthread_mutex_lock(&s->lock);
	pack(s, &w);
	pthread_mutex_unlock(&s->lock);
	err = snap_add_writer(b, SNAP_SEC_SERIAL, 0, &w);
	if (err)
		snprintf(why, n, "serial: %s", strerror(-err));
	return err;
}

static void unpack(struct snap_reader *r, struct serial_snap *st)
{
	st->ier = snap_get_u8(r);
	st->lcr = snap_get_u8(r);
	st->mcr = snap_get_u8(r);
	st->fcr = snap_get_u8(r);
	st->scr = snap_get_u8(r);
	st->dll = snap_get_u8(r);
	st->dlm = snap_get_u8(r);
	st->flags = snap_get_u8(r);
	st->rx_len = snap_get_u16(r);
	if (st->rx_len <= SERIAL_RX_SIZE)
		snap_get_bytes(r, st->rx, st->rx_len);
}

/* Only values the register writes themselves can leave behind. */
static int check_snap(const struct serial_snap *st, char *why, size_t n)
{
	if (st->ier & ~IER_MASK)
		return snap_refuse(why, n, "state: serial: IER 0x%02x", st->ier);
	if (st->mcr & ~MCR_MASK)
		return snap_refuse(why, n, "state: serial: MCR 0x%02x", st->mcr);
	if (st->fcr & ~FCR_KEEP)
		return snap_refuse(why, n, "state: serial: FCR 0x%02x", st->fcr);
	if (st->flags & ~(SNAP_THRI | SNAP_IRQ))
		return snap_refuse(why, n, "state: serial: flags 0x%02x",
				   st->flags);
	return 0;
}

static void apply(struct serial *s, const struct serial_snap *st)
{
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->fcr = st->fcr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->thri_pending = st->flags & SNAP_THRI;
	s->irq_level = st->flags & SNAP_IRQ;
	ring_clear(&s->rx);
	ring_put(&s->rx, st->rx, st->rx_len);
	irq_line_set(&s->irq, s->irq_level);
}

int serial_restore(struct serial *s, const struct snap_index *idx, char *why,
		   size_t n)
{
	struct serial_snap st;
	struct snap_reader r;
	int err;

	if (!snap_reader_find(&r, idx, SNAP_SEC_SERIAL, 0))
		return snap_refuse(why, n, "state: serial: missing");
	unpack(&r, &st);
	if (st.rx_len > SERIAL_RX_SIZE)
		return snap_refuse(why, n,
				   "state: serial: %u bytes received, more than the %d the FIFO holds",
				   st.rx_len, SERIAL_RX_SIZE);
	if (!snap_reader_done(&r))
		return snap_refuse(why, n,
				   "state: serial: %zu bytes, not what the fields take",
				   r.len);
	err = check_snap(&st, why, n);
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	apply(s, &st);
	pthread_mutex_unlock(&s->lock);
	return 0;
}
