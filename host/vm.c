#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "cpu.h"
#include "layout.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "vm.h"

#define CAP(c, why)	{ c, #c, why }

/* Every capability the VMM relies on, checked before anything is made. */
const struct vm_cap vm_required_caps[] = {
	CAP(KVM_CAP_USER_MEMORY, "guest RAM"),
	CAP(KVM_CAP_SET_TSS_ADDR, "the TSS page below 4 GiB"),
	CAP(KVM_CAP_SET_IDENTITY_MAP_ADDR, "the identity-map page below 4 GiB"),
	CAP(KVM_CAP_IRQCHIP, "the in-kernel PIC, IOAPIC and LAPICs"),
	CAP(KVM_CAP_PIT2, "the in-kernel PIT"),
	CAP(KVM_CAP_HLT, "idle vCPUs halting in the kernel"),
	CAP(KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID"),
	CAP(KVM_CAP_IMMEDIATE_EXIT, "stopping vCPUs without races"),
	CAP(KVM_CAP_NR_MEMSLOTS, "two memory slots around the MMIO hole"),
	CAP(KVM_CAP_MP_STATE, "snapshots of halted and waiting vCPUs"),
	CAP(KVM_CAP_XSAVE, "snapshots of the FPU and vector registers"),
	CAP(KVM_CAP_VCPU_EVENTS, "snapshots of pending interrupts"),
	CAP(KVM_CAP_DEBUGREGS, "snapshots of the debug registers"),
	CAP(KVM_CAP_ADJUST_CLOCK, "snapshots of kvmclock"),
};

const unsigned int vm_nr_required_caps =
	sizeof(vm_required_caps) / sizeof(vm_required_caps[0]);

#define MEM_SLOTS_NEEDED	2
/*
 * Tests point this at a path only their fake KVM answers, so a missing
 * fake can never mean a guest on the real device.
 */
#define KVM_DEVICE_ENV		"AGENTBOX_KVM_DEVICE"
#define KVM_DEVICE		"/dev/kvm"
/* What KVM allows when it cannot tell (api.rst, KVM_CREATE_VCPU). */
#define DEFAULT_MAX_VCPUS	4

static int fail(int err, char *why, size_t n, const char *what)
{
	snprintf(why, n, "%s: %s", what, strerror(-err));
	return err;
}

static const char *kvm_device(void)
{
	return getenv(KVM_DEVICE_ENV) ?: KVM_DEVICE;
}

static int check_caps(int kvm_fd, char *why, size_t n)
{
	const struct vm_cap *c;
	unsigned int i;

	for (i = 0; i < vm_nr_required_caps; i++) {
		c = &vm_required_caps[i];
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, c->cap) <= 0) {
			snprintf(why, n, "%s: KVM lacks %s (needed for %s)",
				 kvm_device(), c->name, c->why);
			return -ENOTSUP;
		}
	}
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS) <
	    MEM_SLOTS_NEEDED) {
		snprintf(why, n, "%s: KVM offers fewer than %d memory slots",
			 kvm_device(), MEM_SLOTS_NEEDED);
		return -ENOTSUP;
	}
	return 0;
}

static int check_vcpus(int kvm_fd, unsigned int nr_cpus, char *why, size_t n)
{
	int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = DEFAULT_MAX_VCPUS;
	if (nr_cpus > (unsigned int)max) {
		snprintf(why, n, "--cpus %u: KVM allows at most %d vCPUs",
			 nr_cpus, max);
		return -EINVAL;
	}
	return 0;
}

int vm_open_kvm(char *why, size_t why_size)
{
	const char *dev = kvm_device();
	int fd, version;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_size, "%s: %s%s", dev, strerror(errno),
			 errno == ENOENT ? " (is the kvm module loaded?)" : "");
		return -ENODEV;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION_REQUIRED) {
		snprintf(why, why_size, "%s: KVM API version %d, need %d", dev,
			 version, KVM_API_VERSION_REQUIRED);
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

static int query_kvm(struct vm *vm, char *why, size_t n)
{
	int size, err;

	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return fail(size < 0 ? -errno : -EINVAL, why, n,
			    "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = size;
	err = cpu_supported_cpuid(vm->kvm_fd, &vm->cpuid);
	if (err)
		return fail(err, why, n, "KVM_GET_SUPPORTED_CPUID");
	return 0;
}

/*
 * Both private pages sit in the MMIO hole, where no memory slot will
 * ever be; KVM needs them before the first vCPU exists.
 */
static int create_vm(struct vm *vm, char *why, size_t n)
{
	uint64_t identity = LAYOUT_IDENTITY_MAP_ADDR;

	do
		vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->fd < 0 && errno == EINTR);
	if (vm->fd < 0)
		return fail(-errno, why, n, "KVM_CREATE_VM");
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_ADDR) < 0)
		return fail(-errno, why, n, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return fail(-errno, why, n, "KVM_SET_IDENTITY_MAP_ADDR");
	return 0;
}

int vm_open(struct vm *vm, int kvm_fd, unsigned int nr_cpus, char *why,
	    size_t why_size)
{
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->kvm_fd = kvm_fd >= 0 ? kvm_fd : vm_open_kvm(why, why_size);
	if (vm->kvm_fd < 0) {
		err = vm->kvm_fd;
		vm->kvm_fd = -1;
		return err;
	}
	err = check_caps(vm->kvm_fd, why, why_size);
	if (!err)
		err = check_vcpus(vm->kvm_fd, nr_cpus, why, why_size);
	if (!err)
		err = query_kvm(vm, why, why_size);
	if (!err)
		err = create_vm(vm, why, why_size);
	if (err)
		vm_close(vm);
	return err;
}

static int add_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *host, char *why, size_t n)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail(-errno, why, n, "KVM_SET_USER_MEMORY_REGION");
	return 0;
}

/*
 * RAM is reserved lazily (MAP_NORESERVE): the guest's untouched memory
 * costs the host nothing. A restored guest's RAM is its snapshot's memory
 * file mapped MAP_PRIVATE: pages load when first touched, writes stay in
 * this process, and any number of clones share the file's page cache.
 * Whatever does not fit below the MMIO hole continues at 4 GiB, exactly
 * as guest_mem translates it.
 */
int vm_setup_memory(struct vm *vm, uint64_t size, int backing_fd, char *why,
		    size_t why_size)
{
	uint64_t low = layout_low_ram_end(size);
	int flags = MAP_PRIVATE | MAP_NORESERVE;
	int err;

	if (backing_fd < 0)
		flags |= MAP_ANONYMOUS;
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, backing_fd,
		       0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		return fail(-errno, why, why_size, "guest RAM");
	}
	vm->ram_size = size;
	vm->ram_from_file = backing_fd >= 0;
	err = guest_mem_init(&vm->gm, vm->ram, size, LAYOUT_MMIO_HOLE_START,
			     LAYOUT_MMIO_HOLE_END);
	if (err)
		return fail(err, why, why_size, "guest RAM layout");
	err = add_slot(vm, 0, 0, low, vm->ram, why, why_size);
	if (!err && size > low)
		err = add_slot(vm, 1, LAYOUT_HIGH_RAM_START, size - low,
			       (uint8_t *)vm->ram + low, why, why_size);
	return err;
}

int vm_clock_save(const struct vm *vm, struct snap_builder *b, char *why,
		  size_t why_size)
{
	struct kvm_clock_data clock;
	struct snap_writer w;
	uint8_t buf[8];
	int err;

	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->fd, KVM_GET_CLOCK, &clock) < 0)
		return fail(-errno, why, why_size, "KVM_GET_CLOCK");
	snap_writer_init(&w, buf, sizeof(buf));
	snap_put_u64(&w, clock.clock);
	err = snap_add_writer(b, SNAP_SEC_CLOCK, 0, &w);
	return err ? fail(err, why, why_size, SNAP_STATE_NAME ": clock") : 0;
}

int vm_clock_restore(const struct vm *vm, const struct snap_index *idx,
		     char *why, size_t why_size)
{
	const struct snap_section *s = snap_find(idx, SNAP_SEC_CLOCK, 0);
	struct kvm_clock_data clock;
	struct snap_reader r;

	if (!s) {
		snprintf(why, why_size, "%s: no clock section",
			 SNAP_STATE_NAME);
		return -EINVAL;
	}
	memset(&clock, 0, sizeof(clock));
	snap_reader_init(&r, s->payload, s->len);
	clock.clock = snap_get_u64(&r);
	if (!snap_reader_done(&r)) {
		snprintf(why, why_size, "%s: clock: %zu bytes, not 8",
			 SNAP_STATE_NAME, s->len);
		return -EINVAL;
	}
	/*
	 * No KVM_CLOCK_REALTIME: KVM would add the wall time since the save,
	 * and the guest's monotonic clock would jump by it. The guest agent
	 * sets the wall clock instead.
	 */
	if (ioctl(vm->fd, KVM_SET_CLOCK, &clock) < 0)
		return fail(-errno, why, why_size, "KVM_SET_CLOCK");
	return 0;
}

void vm_close(struct vm *vm)
{
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	free(vm->cpuid);
	vm->cpuid = NULL;
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
}
