/*
 * The host-socket half of virtio-vsock: the listener, the CONNECT
 * handshake, connections to "<SOCK>_<port>", and each connection's
 * bounded buffer of guest data on its way to the host socket. Only the
 * device thread calls these, with the transport lock held.
 */
#ifndef AGENTBOX_VSOCK_HOST_H
#define AGENTBOX_VSOCK_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_vsock.h"

/* epoll data: these two, then VSOCK_EV_CONN + connection index. */
#define VSOCK_EV_KICK	0ULL
#define VSOCK_EV_LISTEN	1ULL
#define VSOCK_EV_CONN	2ULL

int vsock_host_listen(struct virtio_vsock *v, bool check_only, char *why,
		      size_t why_size);

/* A free slot set up around fd (which it then owns), or NULL. */
struct vsock_conn *vsock_conn_new(struct virtio_vsock *v, int fd,
				  enum vsock_state state);
void vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c);
struct vsock_conn *vsock_conn_find(struct virtio_vsock *v, uint32_t host_port,
				   uint32_t guest_port);

/* Accept what the listener has; clients beyond the cap are closed. */
void vsock_host_accept(struct virtio_vsock *v);

/*
 * A client that connects and never finishes its CONNECT line would hold
 * a slot for good: drop those whose handshake_ms are up, and shorten an
 * epoll timeout (-1 for none) to when the next one is due.
 */
void vsock_host_expire(struct virtio_vsock *v);
int vsock_host_wait_ms(const struct virtio_vsock *v, int timeout_ms);

/*
 * Read the client's CONNECT line a byte at a time, so nothing the client
 * sends after it is consumed before the guest accepts. 1 with *port once
 * the line is complete, 0 for more later, -errno to drop the client.
 */
int vsock_host_read_line(struct vsock_conn *c, uint32_t *port);

/* Connect to "<path>_<port>": the socket, or -errno. */
int vsock_host_connect(const struct virtio_vsock *v, uint32_t port);

/* Bytes of guest data waiting for the host socket. */
static inline uint32_t vsock_buffered(const struct vsock_conn *c)
{
	return c->rx_cnt - c->fwd_cnt;
}

/* Write buffered bytes to the host socket: 0 or -errno (EAGAIN is 0). */
int vsock_host_flush(struct vsock_conn *c);

#endif /* AGENTBOX_VSOCK_HOST_H */
