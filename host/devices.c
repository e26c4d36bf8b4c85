#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "agentbox-abi.h"
#include "devices.h"
#include "irq.h"
#include "power.h"
#include "snapshot.h"
#include "virtio_rng.h"

static int open_console(struct devices *d, const char *path, bool dry_run,
			char *why, size_t n)
{
	/* A dry run checks the file can be written but keeps its contents. */
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (dry_run ? 0 : O_TRUNC);

	if (!path) {
		d->console_fd = STDOUT_FILENO;
		return 0;
	}
	d->console_fd = open(path, flags, 0644);
	if (d->console_fd < 0) {
		snprintf(why, n, "--console %s: %s", path, strerror(errno));
		return -errno;
	}
	d->console_owned = true;
	return 0;
}

_Static_assert(OPT_VSOCK_PATH_MAX == VSOCK_PATH_MAX, "vsock path limit");

/* A dry run checks the socket path but listens on nothing. */
static int open_vsock(struct devices *d, const struct run_opts *o, char *why,
		      size_t n)
{
	char reason[256];
	int err;

	if (!o->vsock)
		return 0;
	err = virtio_vsock_open(&d->vsock, o->vsock, o->vsock_cid, o->dry_run,
				reason, sizeof(reason));
	if (err) {
		snprintf(why, n, "--vsock %s", reason);
		return err;
	}
	d->has_vsock = true;
	return 0;
}

void devices_init(struct devices *d)
{
	memset(d, 0, sizeof(*d));
	d->console_fd = -1;
}

_Static_assert(OPT_IFNAME_MAX == IFNAMSIZ, "interface name limit");

int devices_open_net(struct devices *d, const struct run_opts *o, char *why,
		     size_t n)
{
	char reason[256];
	int err;

	if (!o->net_tap)
		return 0;
	err = virtio_net_open(&d->net, o->net_tap,
			      o->has_net_mac ? o->net_mac : NULL, o->dry_run,
			      reason, sizeof(reason));
	if (err) {
		snprintf(why, n, "--net %s", reason);
		return err;
	}
	d->has_net = true;
	return 0;
}

int devices_open(struct devices *d, const struct run_opts *o, char *why,
		 size_t why_size)
{
	char reason[256];
	unsigned int i;
	int err;

	for (i = 0; i < o->nr_disks; i++) {
		err = virtio_blk_open(&d->blk[i], o->disk[i].path,
				      o->disk[i].ro, i, reason, sizeof(reason));
		if (err) {
			snprintf(why, why_size, "--disk %s", reason);
			goto close_disks;
		}
		d->nr_disks++;
	}
	err = open_console(d, o->console, o->dry_run, why, why_size);
	if (err)
		goto close_disks;
	err = open_vsock(d, o, why, why_size);
	if (err)
		goto close_disks;
	return 0;

close_disks:
	devices_close(d);
	return err;
}

unsigned int devices_nr_virtio(const struct devices *d)
{
	return d->nr_disks + 1 + d->has_vsock + d->has_net;
}

static int add_virtio(struct devices *d, struct vm *vm,
		      const struct virtio_dev_ops *ops, void *dev,
		      uint64_t features, char *why, size_t n)
{
	unsigned int i = d->nr_virtio;
	uint64_t addr = layout_virtio_mmio_addr(i);
	struct irq_line irq;
	int err;

	irq_line_kvm(&irq, &vm->fd, layout_virtio_irq(i));
	err = virtio_mmio_init(&d->virtio[i], ops, dev, features, &vm->gm,
			       &irq, addr);
	if (err) {
		snprintf(why, n, "virtio-%s: %s", ops->name, strerror(-err));
		return err;
	}
	d->nr_virtio++;
	err = bus_add(&d->mmio, addr, LAYOUT_VIRTIO_MMIO_SIZE,
		      &virtio_mmio_bus_ops, &d->virtio[i], ops->name);
	if (err)
		snprintf(why, n, "virtio-%s at 0x%llx: %s", ops->name,
			 (unsigned long long)addr, strerror(-err));
	return err;
}

static int attach_serial(struct devices *d, struct vm *vm, char *why,
			 size_t n)
{
	struct irq_line irq;
	int err;

	err = console_init(&d->con, d->console_fd);
	if (err)
		goto fail;
	d->con_ready = true;
	irq_line_kvm(&irq, &vm->fd, LAYOUT_SERIAL_IRQ);
	err = serial_init(&d->serial, &d->con, &irq);
	if (err)
		goto fail;
	d->serial_ready = true;
	err = bus_add(&d->pio, LAYOUT_SERIAL_PORT, SERIAL_NR_PORTS,
		      &serial_bus_ops, &d->serial, "serial");
	if (err)
		goto fail;
	return 0;

fail:
	snprintf(why, n, "serial console: %s", strerror(-err));
	return err;
}

static int attach_vsock(struct devices *d, struct vm *vm, char *why,
			size_t n)
{
	int err;

	if (!d->has_vsock)
		return 0;
	err = add_virtio(d, vm, &virtio_vsock_ops, &d->vsock, 0, why, n);
	if (err)
		return err;
	virtio_vsock_bind(&d->vsock, &d->virtio[d->nr_virtio - 1]);
	err = virtio_vsock_start(&d->vsock);
	if (err)
		snprintf(why, n, "virtio-vsock thread: %s", strerror(-err));
	return err;
}

static int attach_net(struct devices *d, struct vm *vm, char *why,
		      size_t n)
{
	int err;

	if (!d->has_net)
		return 0;
	err = add_virtio(d, vm, &virtio_net_ops, &d->net,
			 1ULL << VIRTIO_NET_F_MAC, why, n);
	if (err)
		return err;
	virtio_net_bind(&d->net, &d->virtio[d->nr_virtio - 1]);
	err = virtio_net_start(&d->net);
	if (err)
		snprintf(why, n, "virtio-net thread: %s", strerror(-err));
	return err;
}

int devices_attach(struct devices *d, struct vm *vm, struct stop *stop,
		   struct boottimer *bt, char *why, size_t why_size)
{
	unsigned int i;
	int err;

	bus_init(&d->pio);
	bus_init(&d->mmio);
	err = attach_serial(d, vm, why, why_size);
	if (err)
		return err;
	err = bus_add(&d->pio, EXIT_PORT, 1, &power_bus_ops, stop, "power");
	if (!err)
		err = bus_add(&d->mmio, LAYOUT_BOOT_TIMER_ADDR,
			      LAYOUT_BOOT_TIMER_SIZE, &boottimer_bus_ops, bt,
			      "boottimer");
	if (err) {
		snprintf(why, why_size, "exit port or boot timer: %s",
			 strerror(-err));
		return err;
	}
	for (i = 0; !err && i < d->nr_disks; i++)
		err = add_virtio(d, vm, &virtio_blk_ops, &d->blk[i],
				 virtio_blk_features(&d->blk[i]), why,
				 why_size);
	if (!err)
		err = add_virtio(d, vm, &virtio_rng_ops, NULL, 0, why,
				 why_size);
	if (err)
		return err;
	err = attach_vsock(d, vm, why, why_size);
	if (!err)
		err = attach_net(d, vm, why, why_size);
	if (err)
		return err;
	err = console_start(&d->con);
	if (err)
		snprintf(why, why_size, "console writer: %s", strerror(-err));
	return err;
}

void devices_close(struct devices *d)
{
	unsigned int i;

	/* Their threads use a transport, so they stop before those go. */
	if (d->has_vsock)
		virtio_vsock_close(&d->vsock);
	d->has_vsock = false;
	if (d->has_net)
		virtio_net_close(&d->net);
	d->has_net = false;
	for (i = 0; i < d->nr_virtio; i++)
		virtio_mmio_destroy(&d->virtio[i]);
	d->nr_virtio = 0;
	for (i = 0; i < d->nr_disks; i++)
		virtio_blk_close(&d->blk[i]);
	d->nr_disks = 0;
	if (d->serial_ready)
		serial_destroy(&d->serial);
	d->serial_ready = false;
	if (d->con_ready)
		console_destroy(&d->con);
	d->con_ready = false;
	if (d->console_owned)
		close(d->console_fd);
	d->console_owned = false;
}

void devices_pause(struct devices *d)
{
	if (d->has_vsock)
		virtio_vsock_pause(&d->vsock);
	if (d->has_net)
		virtio_net_pause(&d->net);
}

void devices_resume(struct devices *d)
{
	if (d->has_vsock)
		virtio_vsock_resume(&d->vsock);
	if (d->has_net)
		virtio_net_resume(&d->net);
}

int devices_save(struct devices *d, struct snap_builder *b, char *why,
		 size_t n)
{
	unsigned int i;
	int err;

	err = serial_save(&d->serial, b, why, n);
	for (i = 0; !err && i < d->nr_virtio; i++)
		err = virtio_mmio_save(&d->virtio[i], i, b, why, n);
	for (i = 0; !err && i < d->nr_disks; i++)
		err = virtio_blk_save(&d->blk[i], i, b, why, n);
	if (!err && d->has_vsock)
		err = virtio_vsock_save(&d->vsock, b, why, n);
	if (!err && d->has_net)
		err = virtio_net_save(&d->net, b, why, n);
	return err;
}

/* A device that is optional on the command line: both have it or neither. */
static int same_optional(const struct snap_index *idx, uint32_t tag,
			 bool has, const char *what, const char *option,
			 char *why, size_t n)
{
	bool had = snap_find(idx, tag, 0);

	if (had == has)
		return 0;
	return snap_refuse(why, n,
			   "state: the snapshot has %s %s device; restore %s %s",
			   had ? "a" : "no", what, had ? "with" : "without",
			   option);
}

/* Fewer devices in the snapshot show up as a missing section later. */
static int check_same_devices(const struct devices *d,
			      const struct snap_index *idx, char *why,
			      size_t n)
{
	int err;

	err = same_optional(idx, SNAP_SEC_VSOCK, d->has_vsock, "vsock",
			    "--vsock", why, n);
	if (!err)
		err = same_optional(idx, SNAP_SEC_NET, d->has_net, "network",
				    "--net", why, n);
	if (err)
		return err;
	if (snap_find(idx, SNAP_SEC_VIRTIO_BLK, d->nr_disks))
		return snap_refuse(why, n,
				   "state: the snapshot has more than the %u disks given",
				   d->nr_disks);
	if (snap_find(idx, SNAP_SEC_VIRTIO_MMIO, d->nr_virtio))
		return snap_refuse(why, n,
				   "state: the snapshot has more than this VM's %u virtio devices",
				   d->nr_virtio);
	return 0;
}

/* Disks first: "another disk" says more than the transport would. */
static int check_identities(struct devices *d, const struct snap_index *idx,
			    char *why, size_t n)
{
	unsigned int i;
	int err;

	err = check_same_devices(d, idx, why, n);
	for (i = 0; !err && i < d->nr_disks; i++)
		err = virtio_blk_restore(&d->blk[i], i, idx, why, n);
	return err;
}

int devices_restore(struct devices *d, const struct snap_index *idx,
		    char *why, size_t n)
{
	unsigned int i;
	int err;

	err = check_identities(d, idx, why, n);
	if (err)
		return err;
	devices_pause(d);
	err = serial_restore(&d->serial, idx, why, n);
	for (i = 0; !err && i < d->nr_virtio; i++)
		err = virtio_mmio_restore(&d->virtio[i], i, idx, why, n);
	if (!err && d->has_vsock)
		err = virtio_vsock_restore(&d->vsock, idx, why, n);
	if (!err && d->has_net)
		err = virtio_net_restore(&d->net, idx, why, n);
	return err;
}

int devices_after_restore(struct devices *d, char *why, size_t n)
{
	int err = 0;

	if (d->has_vsock)
		err = virtio_vsock_transport_reset(&d->vsock);
	devices_resume(d);
	if (err)
		snprintf(why, n, "vsock: the guest got no transport reset: %s",
			 strerror(-err));
	return err;
}
