/*
 * virtio-vsock (virtio 1.2 section 5.10) with Firecracker's hybrid
 * convention on the host side:
 *
 *  - host to guest: a client connects to the unix socket SOCK and writes
 *    "CONNECT <port>\n"; once the guest accepts, it reads "OK <hostport>\n"
 *    and the stream is the guest connection;
 *  - guest to host: a guest connection to CID 2 port P is a connection to
 *    the unix socket "<SOCK>_<P>".
 *
 * Threads: one device thread owns every host socket. It sleeps in
 * epoll_wait() on the listener, the connections and an eventfd that the
 * queue-notify write kicks, and does all queue work under the transport
 * lock with non-blocking socket calls only, so a vCPU never waits on a
 * host socket and never waits on the lock for longer than one bounded
 * pass (at most a queue's worth of packets each way).
 *
 * Memory: nothing grows with what the guest or a client sends. Each
 * connection has one buffer of VSOCK_HOST_BUF bytes for guest data the
 * host socket has not taken yet, which is exactly the credit we
 * advertise; data to the guest goes straight from the socket into the
 * guest's rx buffers, only as much as the guest's credit allows, and a
 * socket the guest has no credit for is simply not read. Control
 * replies are per-connection flags plus a small fixed ring for resets
 * to unknown connections.
 *
 * All device state (the connection table, port counter, pending resets,
 * the guest CID) is in struct virtio_vsock; queue indices live in the
 * transport. Host sockets cannot be saved, so a snapshot keeps only the
 * port counter: a restored device starts with no connections and tells
 * the guest so with a transport reset event, after which Linux drops
 * its connections and re-reads the CID; its listening sockets stay.
 */
#ifndef AGENTBOX_VIRTIO_VSOCK_H
#define AGENTBOX_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_vsock.h>

#include "dev_thread.h"
#include "snapshot_file.h"
#include "virtio_mmio.h"

#define VSOCK_HOST_CID		2U
#define VSOCK_DEFAULT_CID	3U
/* Linux takes CIDs as u32 and reserves -1 (VMADDR_CID_ANY). */
#define VSOCK_MAX_CID		0xfffffffeU
#define VSOCK_QUEUE_MAX		256
#define VSOCK_RX		0
#define VSOCK_TX		1
#define VSOCK_EVENT		2
#define VSOCK_HDR_LEN		sizeof(struct virtio_vsock_hdr)
#define VSOCK_MAX_CONNS		64
/* Credit we give the guest per connection: 64 x 256 KiB = 16 MiB max. */
#define VSOCK_HOST_BUF		(256U * 1024)
/* Largest payload in one packet, both ways (Linux sends at most 64 KiB). */
#define VSOCK_MAX_PKT		(64U * 1024)
/* "CONNECT 4294967295\n" is 19 bytes; anything longer is not a request. */
#define VSOCK_LINE_MAX		32
#define VSOCK_RST_RING		32
/* "<SOCK>_4294967295" must fit sockaddr_un.sun_path (108 with the NUL). */
#define VSOCK_PATH_MAX		96
/* Host ports for host-initiated connections start here (as Firecracker). */
#define VSOCK_LOCAL_PORT_BASE	(1U << 30)
/* A client that has not sent its CONNECT line by then gives up its slot. */
#define VSOCK_HANDSHAKE_MS	5000

enum vsock_state {
	VSOCK_FREE,
	/* Host client connected; reading its "CONNECT <port>\n". */
	VSOCK_HANDSHAKE,
	/* REQUEST sent (or due) to the guest, waiting for RESPONSE. */
	VSOCK_REQUESTED,
	VSOCK_ESTABLISHED,
};

/* Control packets owed to the guest on a connection. */
#define VSOCK_PEND_REQUEST	(1U << 0)
#define VSOCK_PEND_RESPONSE	(1U << 1)
#define VSOCK_PEND_CREDIT	(1U << 2)
#define VSOCK_PEND_SHUTDOWN	(1U << 3)

struct vsock_conn {
	enum vsock_state state;
	int fd;
	/* Host side (CID 2) and guest side port of the connection. */
	uint32_t host_port;
	uint32_t guest_port;
	uint32_t pending;
	/* Edge-triggered epoll: set on an event, cleared on EAGAIN. */
	bool can_read;
	bool can_write;
	/* The host socket reached EOF, and we told the guest so. */
	bool host_eof;
	/* VIRTIO_VSOCK_SHUTDOWN_* the guest sent us. */
	uint32_t guest_shut;
	/* Guest's receive window: its buf_alloc and fwd_cnt, our tx_cnt. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt;
	/*
	 * Our receive window: rx_cnt bytes came from the guest, fwd_cnt of
	 * them went to the host socket, the rest wait in buf (a ring);
	 * last_fwd_sent is the fwd_cnt the guest last heard.
	 */
	uint32_t rx_cnt;
	uint32_t fwd_cnt;
	uint32_t last_fwd_sent;
	uint8_t *buf;
	/* The CONNECT line read so far, and when the client is dropped. */
	char line[VSOCK_LINE_MAX];
	unsigned int line_len;
	uint64_t deadline_ms;
};

/* A reset for a packet that matched no connection. */
struct vsock_rst {
	uint32_t host_port;
	uint32_t guest_port;
};

struct virtio_vsock {
	uint64_t guest_cid;
	/* Unix listener path; connections go to "<path>_<port>". */
	char path[VSOCK_PATH_MAX + 1];
	int listen_fd;
	int epoll_fd;
	bool can_accept;
	struct virtio_mmio *t;
	struct vsock_conn conn[VSOCK_MAX_CONNS];
	uint32_t next_port;
	struct vsock_rst rst[VSOCK_RST_RING];
	unsigned int rst_head;
	unsigned int rst_len;
	/* The rx chain popped but not yet filled. */
	bool rx_held;
	struct virtq_chain rx_chain;
	/* Scratch for the tx (or event) chain being handled. */
	struct virtq_chain tx_chain;
	/* VSOCK_HANDSHAKE_MS, shorter in tests. */
	int handshake_ms;
	/*
	 * A snapshot is being taken or restored: the thread notes socket
	 * events but touches neither the queues nor guest memory.
	 */
	bool paused;
	/* Kicked by queue notifies, by resume and by stop. */
	struct dev_thread thread;
};

extern const struct virtio_dev_ops virtio_vsock_ops;

/*
 * Check path (no more than VSOCK_PATH_MAX bytes; absent, or a socket
 * nobody listens on) and, unless check_only, listen on it. why gets
 * "<path>: <reason>".
 */
int virtio_vsock_open(struct virtio_vsock *v, const char *path, uint64_t cid,
		      bool check_only, char *why, size_t why_size);

/* The transport the device works its queues through. */
void virtio_vsock_bind(struct virtio_vsock *v, struct virtio_mmio *t);

int virtio_vsock_start(struct virtio_vsock *v);

/* Stop the thread, close every socket and remove the listener's path. */
void virtio_vsock_close(struct virtio_vsock *v);

/*
 * One pass of the device thread: wait up to timeout_ms for socket or
 * queue events, then move what can move. Tests call it directly.
 */
int virtio_vsock_poll(struct virtio_vsock *v, int timeout_ms);

/*
 * Stop moving packets, and start again: a snapshot's device state and
 * guest memory must be from the same instant, and the thread writes
 * guest memory. Both take the transport lock; call them with the vCPUs
 * paused.
 */
void virtio_vsock_pause(struct virtio_vsock *v);
void virtio_vsock_resume(struct virtio_vsock *v);

/*
 * SNAP_SEC_VSOCK, instance 0: u64 guest CID (for the record: a restore
 * may be given another), u32 next host port for host-initiated
 * connections. Both need the device paused (-EBUSY otherwise). A
 * restore runs after the transport's and drops every connection; the
 * device should stay paused until the guest has had the transport reset
 * below, so no packet of a new connection reaches the guest before it.
 */
int virtio_vsock_save(struct virtio_vsock *v, struct snap_builder *b,
		      char *why, size_t why_size);
int virtio_vsock_restore(struct virtio_vsock *v, const struct snap_index *idx,
			 char *why, size_t why_size);

/*
 * Tell the guest that every connection it had is gone: a
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in the next buffer of the event
 * queue, for when the vCPUs are about to resume. 0 if sent or if no
 * driver runs (it has no connections to drop), -ENOBUFS if the driver
 * posted no event buffer, -EINVAL if the one it posted is too small or
 * the queue is broken.
 */
int virtio_vsock_transport_reset(struct virtio_vsock *v);

/*
 * Parse a client's "CONNECT <port>" line (without the newline): the
 * port is decimal, 0 to 2^32-1, no sign or blanks. -EINVAL otherwise.
 */
int vsock_parse_connect(const char *line, size_t len, uint32_t *port);

#endif /* AGENTBOX_VIRTIO_VSOCK_H */
