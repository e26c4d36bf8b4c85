/*
 * The machine's devices and where they sit: the UART and the exit port on
 * the PIO bus; the boot timer and one virtio-mmio window per disk, then
 * the entropy device, vsock and net, on the MMIO bus. Virtio device i always gets
 * layout_virtio_mmio_addr(i) and layout_virtio_irq(i), the same numbering
 * boot.c writes into the kernel command line.
 */
#ifndef AGENTBOX_DEVICES_H
#define AGENTBOX_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "boottimer.h"
#include "bus.h"
#include "console.h"
#include "layout.h"
#include "options.h"
#include "serial.h"
#include "snapshot_file.h"
#include "stop.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "virtio_vsock.h"
#include "vm.h"

struct devices {
	int console_fd;
	bool console_owned;
	struct console con;
	bool con_ready;
	struct serial serial;
	bool serial_ready;
	struct virtio_blk blk[OPT_MAX_DISKS];
	unsigned int nr_disks;
	struct virtio_vsock vsock;
	bool has_vsock;
	struct virtio_net net;
	bool has_net;
	struct virtio_mmio virtio[LAYOUT_VIRTIO_MAX_DEVICES];
	unsigned int nr_virtio;
	struct bus pio;
	struct bus mmio;
};

/* Before anything is opened: every device absent. */
void devices_init(struct devices *d);

/*
 * Attach to --net's tap. It is a host interface, not a file, so this
 * comes before --jail hides the host's /dev; a dry run only checks the
 * interface exists. why gets "--net <name>: <reason>".
 */
int devices_open_net(struct devices *d, const struct run_opts *o, char *why,
		     size_t why_size);

/*
 * Open the disks and the console file: the inputs, checked before any VM
 * exists. why gets "<input>: <reason>".
 */
int devices_open(struct devices *d, const struct run_opts *o, char *why,
		 size_t why_size);

/* Virtio devices the opened configuration has: disks, rng, vsock, net. */
unsigned int devices_nr_virtio(const struct devices *d);

/*
 * Create every device model on the VM's interrupt lines and guest RAM,
 * put them on the buses, and start the console writer and the vsock
 * and net threads.
 */
int devices_attach(struct devices *d, struct vm *vm, struct stop *stop,
		   struct boottimer *bt, char *why, size_t why_size);

void devices_close(struct devices *d);

/*
 * Snapshots (snapshot.h). The vsock and net threads move packets into
 * guest memory on their own, so devices_pause() stops them: call it with the
 * vCPUs paused, before guest RAM and devices_save(), and
 * devices_resume() after them if the VM runs on.
 */
void devices_pause(struct devices *d);
void devices_resume(struct devices *d);

/*
 * The UART, each virtio transport (instance = virtio index), each
 * disk's identity (instance = disk index), vsock and net, in device
 * order.
 */
int devices_save(struct devices *d, struct snap_builder *b, char *why,
		 size_t why_size);

/*
 * After devices_attach() on a fresh VM built from the restore's command
 * line, before the vCPUs start. The snapshot must have the same devices
 * in the same slots: the same disks in the same order and modes, vsock
 * or not, net or not. Identities are checked before any state is applied, but each
 * device's state is applied as it passes, so after an error the VM is
 * half restored and must not run. Leaves the devices paused.
 */
int devices_restore(struct devices *d, const struct snap_index *idx,
		    char *why, size_t why_size);

/*
 * Just before the vCPUs run: tell the guest its vsock connections are
 * gone (virtio_vsock_transport_reset()) and resume the devices. An error
 * is worth a warning, not a failed restore: the guest runs on and only
 * its old connections hang.
 */
int devices_after_restore(struct devices *d, char *why, size_t why_size);

#endif /* AGENTBOX_DEVICES_H */
