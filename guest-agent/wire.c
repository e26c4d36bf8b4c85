/* Frame assembly and bounded sending over one nonblocking byte stream. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "wire.h"

void wire_init(struct wire *w, int fd)
{
	w->fd = fd;
	wire_reset(w);
}

void wire_reset(struct wire *w)
{
	w->rx_len = 0;
	w->tx_len = 0;
}

/* How many bytes the frame being assembled still lacks; never reads past
 * it, so a bad header is caught before its payload is read. */
static size_t wanted(const struct wire *w)
{
	if (w->rx_len < PROTO_HDR_SIZE)
		return PROTO_HDR_SIZE - w->rx_len;
	return PROTO_HDR_SIZE + w->hdr.len - w->rx_len;
}

/* Bytes read (0 when none are waiting), -EPIPE at the end of the stream,
 * -ENODATA at an end inside a frame, -errno, or the header's decode error. */
int wire_fill(struct wire *w)
{
	size_t want = wanted(w);
	ssize_t n;
	int err;

	if (want == 0)
		return 0;
	n = read(w->fd, w->rx + w->rx_len, want);
	if (n == 0)
		/* -ENODATA: the stream ended inside a frame. */
		return w->rx_len ? -ENODATA : -EPIPE;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	w->rx_len += n;
	if (w->rx_len == PROTO_HDR_SIZE) {
		err = proto_hdr_decode(w->rx, &w->hdr);
		if (err)
			return err;
	}
	return n;
}

/* 1 with the frame when one is complete, else 0. */
int wire_frame(struct wire *w, struct proto_hdr *h, const uint8_t **payload)
{
	if (w->rx_len < PROTO_HDR_SIZE || wanted(w))
		return 0;
	*h = w->hdr;
	*payload = w->rx + PROTO_HDR_SIZE;
	return 1;
}

void wire_consume(struct wire *w)
{
	w->rx_len = 0;
}

int wire_send(struct wire *w, unsigned int type, uint32_t channel,
	      const void *payload, size_t len)
{
	struct proto_hdr h = {
		.len = len, .version = PROTO_VERSION, .type = type, .channel = channel,
	};

	if (len > PROTO_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (PROTO_HDR_SIZE + len > sizeof(w->tx) - w->tx_len)
		return -ENOBUFS;
	proto_hdr_encode(w->tx + w->tx_len, &h);
	if (len)
		memcpy(w->tx + w->tx_len + PROTO_HDR_SIZE, payload, len);
	w->tx_len += PROTO_HDR_SIZE + len;
	return 0;
}

int wire_send_u32(struct wire *w, unsigned int type, uint32_t channel, uint32_t v)
{
	uint8_t le[4] = { v, v >> 8, v >> 16, v >> 24 };

	return wire_send(w, type, channel, le, 4);
}

int wire_send_error(struct wire *w, uint32_t channel, int err, const char *msg)
{
	uint8_t buf[4 + 4 + 256];
	struct proto_buf b = { .p = buf, .cap = sizeof(buf) };
	char text[256];

	snprintf(text, sizeof(text), "%s", msg);
	proto_put_u32(&b, err < 0 ? -err : err);
	proto_put_str(&b, text);
	return wire_send(w, P_ERROR, channel, buf, b.len);
}

/* Writes what the stream takes now; 0, or -errno when it is broken. */
int wire_flush(struct wire *w)
{
	ssize_t n;

	while (w->tx_len) {
		n = send(w->fd, w->tx, w->tx_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = write(w->fd, w->tx, w->tx_len);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		memmove(w->tx, w->tx + n, w->tx_len - n);
		w->tx_len -= n;
	}
	return 0;
}

bool wire_data_room(const struct wire *w)
{
	return sizeof(w->tx) - w->tx_len >= PROTO_HDR_SIZE + PROTO_CHUNK_MAX + WIRE_RESERVE;
}

bool wire_control_room(const struct wire *w)
{
	return sizeof(w->tx) - w->tx_len >= WIRE_RESERVE;
}

/*
 * Whether a wire_fill() error means the peer went away, not that it broke
 * the protocol: an end of stream, or a connection the transport reset (as
 * the guest's vsock does to every connection when a snapshot is restored).
 * Nothing can be said to such a peer; the session just ends.
 */
bool wire_peer_gone(int err)
{
	return err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN ||
	       err == -ECONNABORTED;
}
