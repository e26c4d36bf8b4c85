/*
 * An 8250/16550A UART at 0x3f8, IRQ 4: enough of the chip for Linux to
 * detect a 16550A and run its console on it. Transmission is instant
 * (THR is always empty), so the guest never waits on us; the bytes go to
 * the bounded console buffer. Received bytes (our stdin, or the power-off
 * line) wait in a small FIFO with the data-ready interrupt.
 */
#ifndef AGENTBOX_SERIAL_H
#define AGENTBOX_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "console.h"
#include "irq.h"
#include "ring.h"
#include "snapshot_file.h"

#define SERIAL_NR_PORTS	8
#define SERIAL_RX_SIZE	1024

struct serial {
	pthread_mutex_t lock;
	struct console *con;
	struct irq_line irq;
	bool irq_level;
	/* THRE interrupt latched; reading it from IIR clears it. */
	bool thri_pending;
	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t fcr;
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	struct ring rx;
	uint8_t rx_buf[SERIAL_RX_SIZE];
};

extern const struct bus_ops serial_bus_ops;

int serial_init(struct serial *s, struct console *con,
		const struct irq_line *irq);
void serial_destroy(struct serial *s);

/* Free room in the receive FIFO. */
size_t serial_rx_space(struct serial *s);

/* Receive as much of p as fits; returns how much that was. */
size_t serial_rx_push(struct serial *s, const uint8_t *p, size_t n);

/* Receive all of p or nothing (a control line must not arrive torn). */
bool serial_rx_inject(struct serial *s, const uint8_t *p, size_t n);

/*
 * SNAP_SEC_SERIAL, instance 0: u8 ier, lcr, mcr, fcr, scr, dll, dlm;
 * u8 flags (bit 0 THRE interrupt latched, bit 1 irq line high); u16 n;
 * the n bytes of the receive FIFO, oldest first. The restore raises the
 * line again if it was high.
 */
int serial_save(struct serial *s, struct snap_builder *b, char *why,
		size_t why_size);
int serial_restore(struct serial *s, const struct snap_index *idx, char *why,
		   size_t why_size);

#endif /* AGENTBOX_SERIAL_H */
