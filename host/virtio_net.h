/*
 * virtio-net (virtio 1.2 section 5.1) on a tap interface the caller made:
 * one rx and one tx queue, a MAC address in config space, and nothing
 * else. No offloads are offered, so every frame is a plain Ethernet frame
 * of at most the tap's MTU, behind the 12-byte virtio_net_hdr_v1 that
 * VERSION_1 implies (zero on receive but for num_buffers = 1, ignored on
 * transmit). The tap is opened with IFF_NO_PI and without IFF_VNET_HDR,
 * so it carries bare frames.
 *
 * Threads: one device thread moves frames both ways. It sleeps in poll()
 * on an eventfd that queue notifies kick and, while the guest has posted
 * receive buffers, on the tap; all queue work is under the transport
 * lock, at most a queue's worth of frames each way per pass, with
 * non-blocking tap calls only. A frame read from the tap goes straight
 * into the guest's buffer and a frame the guest sends goes straight from
 * its buffers to the tap: nothing is buffered here, so nothing grows
 * with traffic. A frame the tap will not take is dropped and counted, as
 * a full NIC would.
 *
 * A snapshot keeps the MAC address, which the guest's driver has already
 * read: every restore of one snapshot has that MAC, on the tap its own
 * --net names.
 */
#ifndef AGENTBOX_VIRTIO_NET_H
#define AGENTBOX_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net/if.h>

#include "dev_thread.h"
#include "options.h"
#include "snapshot_file.h"
#include "virtio_mmio.h"

#define NET_QUEUE_MAX		256
#define NET_RX			0
#define NET_TX			1
/* struct virtio_net_hdr_v1: VERSION_1 always has num_buffers. */
#define NET_HDR_LEN		12U
#define NET_MAC_LEN		OPT_MAC_LEN
/* Failed tap writes and reads that are logged; the rest are counted. */
#define NET_LOG_MAX		8

struct virtio_net {
	char ifname[IFNAMSIZ];
	int tap_fd;
	uint8_t mac[NET_MAC_LEN];
	struct virtio_mmio *t;
	/* The rx chain popped but not yet filled. */
	bool rx_held;
	struct virtq_chain rx_chain;
	struct virtq_chain tx_chain;
	/* The guest had no rx buffer left; the tap waits for its notify. */
	bool rx_starved;
	/* The tap failed (its interface was deleted): frames are dropped. */
	bool tap_dead;
	uint64_t tx_dropped;
	unsigned int nr_logged;
	/*
	 * A snapshot is being taken or restored: the thread leaves the
	 * queues and guest memory alone.
	 */
	bool paused;
	/* Kicked by queue notifies, by pause, resume and stop. */
	struct dev_thread thread;
};

extern const struct virtio_dev_ops virtio_net_ops;

/*
 * Attach to the existing tap interface ifname (a missing one is not
 * created: the caller owns the host's network), or with check_only just
 * check that it exists. mac NULL picks a random locally administered
 * address. why gets "<ifname>: <reason>".
 */
int virtio_net_open(struct virtio_net *n, const char *ifname,
		    const uint8_t *mac, bool check_only, char *why,
		    size_t why_size);

void virtio_net_bind(struct virtio_net *n, struct virtio_mmio *t);
int virtio_net_start(struct virtio_net *n);
/* Stop the thread and close the tap. */
void virtio_net_close(struct virtio_net *n);

/*
 * One pass of the device thread: wait up to timeout_ms for the tap or a
 * kick, then move what can move. Tests call it directly.
 */
int virtio_net_poll(struct virtio_net *n, int timeout_ms);

/* As virtio_vsock_pause(): with the vCPUs paused, around a snapshot. */
void virtio_net_pause(struct virtio_net *n);
void virtio_net_resume(struct virtio_net *n);

/*
 * SNAP_SEC_NET, instance 0: the 6-byte MAC address. Both need the device
 * paused (-EBUSY otherwise); a restore runs after the transport's, takes
 * the snapshot's MAC and forgets the rx chain it held, which the
 * transport hands out again.
 */
int virtio_net_save(struct virtio_net *n, struct snap_builder *b, char *why,
		    size_t why_size);
int virtio_net_restore(struct virtio_net *n, const struct snap_index *idx,
		       char *why, size_t why_size);

#endif /* AGENTBOX_VIRTIO_NET_H */
