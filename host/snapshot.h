/*
 * Snapshots: what a paused VM is made of, and who saves each part.
 *
 * A snapshot directory holds
 *   state             the state file (snapshot_file.h): the sections
 *                     below, naming the files of its generation <gen>;
 *   memory.<gen>      guest RAM, byte for byte, sparse: pages that were
 *                     never touched or are all zero are holes;
 *   disk<N>.<gen>     a copy of each writable disk as it was at the
 *                     pause (read-only disks are identified, not copied).
 *
 * Every owner of state saves and restores its own sections, with one
 * pair of calls each:
 *
 *   int X_save(..., struct snap_builder *b, char *why, size_t why_size);
 *   int X_restore(..., const struct snap_index *idx, char *why,
 *                 size_t why_size);
 *
 * Both return 0 or -errno, with why saying what went wrong. A restore
 * checks every length and value of its sections before it touches the
 * VM, and refuses (-EINVAL) a section that is missing, short, or out of
 * range: the CRCs catch corruption, but a bug or a hostile file with good
 * CRCs must still not become device state the code cannot handle.
 * Payloads are packed little-endian fields (snapshot_wire.h), never raw
 * structs of our own; raw KVM structs are fine, they are the kernel's
 * ABI and have fixed layouts.
 *
 * A restore builds the VM in run()'s order (vm, memory, irqchip,
 * devices, vCPUs with their CPUID), then pours the state in: irqchip,
 * devices, vCPUs, and the clock last, just before the vCPUs run.
 */
#ifndef AGENTBOX_SNAPSHOT_H
#define AGENTBOX_SNAPSHOT_H

#include <limits.h>
#include <stdbool.h>

#include <linux/kvm.h>

#include "devices.h"
#include "options.h"
#include "snapshot_disk.h"
#include "snapshot_file.h"
#include "vcpu.h"
#include "vcpu_state.h"
#include "vm.h"

#define SNAP_STATE_NAME		"state"
#define SNAP_MEMORY_NAME	"memory"

/* The machine: loader version, RAM size, vCPU count, CPUID, command line. */
#define SNAP_SEC_MACHINE	SNAP_TAG('M', 'A', 'C', 'H')
/* Its byte of optional devices; a snapshot from before net has bit 1 0. */
#define SNAP_HAS_VSOCK		(1U << 0)
#define SNAP_HAS_NET		(1U << 1)
/* One per disk (instance = disk index): path, size, identity. */
#define SNAP_SEC_DISK		SNAP_TAG('D', 'I', 'S', 'K')
/* Guest RAM: the memory file's length and which pages it holds. */
#define SNAP_SEC_MEMORY		SNAP_TAG('M', 'E', 'M', ' ')

/* vcpu_state.c, instance = vCPU id. */
#define SNAP_SEC_VCPU		SNAP_TAG('V', 'C', 'P', 'U')
/* irq.c: PIC master, PIC slave, IOAPIC (KVM_GET_IRQCHIP), and the PIT. */
#define SNAP_SEC_IRQCHIP	SNAP_TAG('I', 'R', 'Q', 'C')
#define SNAP_SEC_PIT		SNAP_TAG('P', 'I', 'T', '2')
/* vm.c: kvmclock (KVM_GET_CLOCK). */
#define SNAP_SEC_CLOCK		SNAP_TAG('C', 'L', 'C', 'K')

/* Devices. */
#define SNAP_SEC_SERIAL		SNAP_TAG('U', 'A', 'R', 'T')
/* One per virtio-mmio window (instance = virtio device index). */
#define SNAP_SEC_VIRTIO_MMIO	SNAP_TAG('V', 'M', 'I', 'O')
#define SNAP_SEC_VIRTIO_BLK	SNAP_TAG('V', 'B', 'L', 'K')
#define SNAP_SEC_VSOCK		SNAP_TAG('V', 'S', 'C', 'K')
#define SNAP_SEC_NET		SNAP_TAG('N', 'E', 'T', ' ')

/*
 * Bumped whenever a section's payload changes meaning: a state file from
 * another loader version is refused rather than half understood.
 */
#define SNAP_LOADER_VERSION	"agentbox-loader-1"
#define SNAP_GEN_LEN		16
#define SNAP_NAME_MAX		64

/* The parts of a paused VM that snapshot_save() reads. */
struct snapshot_machine {
	struct vm *vm;
	struct vcpu *vcpu;
	unsigned int nr_vcpus;
	struct devices *dev;
	const struct run_opts *opts;
	/* The MSRs each vCPU saves (vcpu_state.h). */
	const struct vcpu_msr_list *msrs;
};

struct snapshot_stats {
	/* Guest RAM actually written to the memory file. */
	uint64_t memory_stored;
	double ms;
};

/*
 * Write a snapshot of the paused VM into dir (created if missing). The
 * state file is written last and atomically, and it names the memory
 * file and disk copies of its own generation, so a snapshot killed half
 * way leaves the previous one in dir whole; the next snapshot removes
 * the leftovers.
 */
int snapshot_save(const struct snapshot_machine *m, const char *dir,
		  struct snapshot_stats *stats, char *why, size_t why_size);

struct snapshot_disk {
	bool ro;
	/* Where the disk was (read-only), or the copy's name in dir. */
	char path[PATH_MAX];
	char copy[SNAP_NAME_MAX];
	struct disk_identity id;
};

/* A state file read back and checked, for a restore. */
struct snapshot_image {
	char dir[PATH_MAX];
	uint8_t *buf;
	size_t len;
	struct snap_index idx;
	uint64_t ram_size;
	unsigned int nr_vcpus;
	bool has_vsock;
	bool has_net;
	/* The generation whose files the state file names. */
	char gen[SNAP_GEN_LEN + 1];
	char memory[SNAP_NAME_MAX];
	struct kvm_cpuid2 *cpuid;
	unsigned int nr_disks;
	struct snapshot_disk disk[OPT_MAX_DISKS];
	/* Clones of the writable disks, open until the devices have them. */
	int clone_fd[OPT_MAX_DISKS];
};

/* Read and check dir's state file: format, version, machine and disks. */
int snapshot_load(struct snapshot_image *img, const char *dir, char *why,
		  size_t why_size);
void snapshot_image_free(struct snapshot_image *img);

/* The snapshot's CPU features must be exactly this host's. */
int snapshot_check_cpuid(const struct snapshot_image *img,
			 const struct kvm_cpuid2 *host, char *why,
			 size_t why_size);

/*
 * Fill o's disks for the restore: o->disk[i].path given on the command
 * line replaces a read-only disk's recorded path; each must still be
 * the disk the snapshot saw. Writable disks are cloned from their copy
 * in the snapshot into a file that disappears with the process.
 */
int snapshot_prepare_disks(struct snapshot_image *img, struct run_opts *o,
			   char *why, size_t why_size);

/* After the VM, its RAM, irqchip, devices and vCPUs exist: their state. */
int snapshot_restore_state(const struct snapshot_image *img,
			   const struct snapshot_machine *m, char *why,
			   size_t why_size);

#endif /* AGENTBOX_SNAPSHOT_H */
