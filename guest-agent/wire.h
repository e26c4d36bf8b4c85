/*
 * One byte stream of agent frames: a receive buffer that assembles one frame
 * at a time and a bounded send buffer. Both the agent and the host client
 * use it; neither ever buffers more than the sizes below per stream.
 */
#ifndef AGENTBOX_WIRE_H
#define AGENTBOX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

/* Room kept for control frames (WINDOW, EXIT, ERROR) behind data. */
#define WIRE_RESERVE	8192u
#define WIRE_TX_CAP	(4 * (PROTO_HDR_SIZE + PROTO_CHUNK_MAX) + WIRE_RESERVE)

struct wire {
	int fd;
	size_t rx_len;
	size_t tx_len;
	struct proto_hdr hdr;
	uint8_t rx[PROTO_HDR_SIZE + PROTO_PAYLOAD_MAX];
	uint8_t tx[WIRE_TX_CAP];
};

void wire_init(struct wire *w, int fd);
void wire_reset(struct wire *w);
int wire_fill(struct wire *w);
int wire_frame(struct wire *w, struct proto_hdr *h, const uint8_t **payload);
void wire_consume(struct wire *w);
int wire_send(struct wire *w, unsigned int type, uint32_t channel,
	      const void *payload, size_t len);
int wire_send_u32(struct wire *w, unsigned int type, uint32_t channel, uint32_t v);
int wire_send_error(struct wire *w, uint32_t channel, int err, const char *msg);
int wire_flush(struct wire *w);
bool wire_data_room(const struct wire *w);
bool wire_control_room(const struct wire *w);
bool wire_peer_gone(int err);

#endif
