/*
 * A fake /dev/kvm, LD_PRELOADed into the real agentbox binary so its
 * start-up, run loop, exit handling and signal paths can be tested on a
 * machine without (usable) KVM. It answers the ioctls the VMM makes,
 * checks their arguments the way KVM would (or stricter), and plays a
 * scripted "guest" (FAKE_KVM_GUEST) in KVM_RUN, producing the exits a
 * real guest would: port I/O, MMIO, shutdown, internal errors.
 *
 * When a check fails the guest powers off with a status from 90 up, so
 * the test sees which one; nothing here is KVM's actual behaviour beyond
 * what api.rst documents.
 *
 * Each VM and vCPU keeps the state its KVM_SET_* calls give it and hands
 * it back to KVM_GET_*, so a snapshot saved from one fake VM and
 * restored into another must read back the same; tests that link the
 * fake in see every ioctl a fd got through fake_kvm.h.
 *
 * FAKE_KVM_ESCAPE plays a guest that took over the VMM: vCPU 0's first
 * KVM_RUN makes a system call the VMM's seccomp filter must refuse.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/kvm.h>

#include "fake_kvm.h"

#define MAX_FD		1024
#define RUN_SIZE	(3 * 4096)
#define DATA_OFFSET	4096
#define EXIT_PORT	0xf4
#define COM1		0x3f8
#define BOOT_TIMER	0xd0000000ULL
#define MIB		(1ULL << 20)
#define MAX_IO_MSRS	256
#define NR_MSRS		300
/* Made-up indices that fill the MSR list past what one KVM_GET_MSRS takes. */
#define FILLER_MSRS	0x40000200
#define MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01

enum kind { NONE, KVM, VM, VCPU };

/* The TSC deadline comes before the TSC, so the VMM must reorder them. */
static const uint32_t named_msrs[] = {
	0x6e0, 0x10, 0x174, 0x175, 0x176, 0xc0000081, 0xc0000082,
	0xc0000083, 0xc0000084, 0xc0000102, 0x1a0, FAKE_KVM_HIDDEN_MSR_A,
	MSR_KVM_SYSTEM_TIME_NEW,
};

#define NR_NAMED_MSRS	(sizeof(named_msrs) / sizeof(named_msrs[0]))

struct fake_cpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_mp_state mp_state;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	uint64_t msr[NR_MSRS];
	/* Last: newer headers end it with a flexible array. */
	struct kvm_xsave xsave;
};

struct fake_vm {
	struct kvm_irqchip chip[3];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* What a VM or vCPU fd holds beyond its kind. */
struct fake_state {
	unsigned long log[FAKE_KVM_LOG_MAX];
	unsigned int nr_log;
	struct fake_vm vm;
	/* Last, for its xsave. */
	struct fake_cpu cpu;
};

struct fake {
	enum kind kind;
	unsigned int id;
	struct kvm_run *run;
	unsigned int step;
	bool cpuid_set;
	/* listener: the console line received so far */
	char line[64];
	size_t line_len;
	bool read_pending;
	struct fake_state *st;
};

static struct fake fakes[MAX_FD];
static uint8_t *ram;
static uint64_t ram_size;
static bool irqchip;
static unsigned int irq_raises[32];
/* The first check that failed, as the status the guest reports. */
static int bad;

static void fail_check(int code)
{
	if (!bad)
		bad = code;
}

static int new_fake(enum kind kind, unsigned int id)
{
	int fd = memfd_create("fake-kvm", MFD_CLOEXEC);

	if (fd < 0 || fd >= MAX_FD)
		return -1;
	memset(&fakes[fd], 0, sizeof(fakes[fd]));
	fakes[fd].kind = kind;
	fakes[fd].id = id;
	if (kind != KVM) {
		fakes[fd].st = calloc(1, sizeof(*fakes[fd].st));
		if (!fakes[fd].st)
			return -1;
	}
	if (kind != VCPU)
		return fd;
	if (ftruncate(fd, RUN_SIZE))
		return -1;
	fakes[fd].run = mmap(NULL, RUN_SIZE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0);
	return fakes[fd].run == MAP_FAILED ? -1 : fd;
}

static int real_open(const char *path, int flags, mode_t mode)
{
	static int (*next)(const char *, int, ...);

	if (!next)
		next = dlsym(RTLD_NEXT, "open");
	return next(path, flags, mode);
}

static int do_open(const char *path, int flags, va_list ap)
{
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;

	if (!strcmp(path, FAKE_KVM_DEVICE))
		return new_fake(KVM, 0);
	return real_open(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = do_open(path, flags, ap);
	va_end(ap);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = do_open(path, flags, ap);
	va_end(ap);
	return fd;
}

static int err(int e)
{
	errno = e;
	return -1;
}

/* What the fake reads from the environment, as the process started. */
static const char *const env_names[] = {
	"FAKE_KVM_GUEST", "FAKE_KVM_STATUS", "FAKE_KVM_MISSING_CAP",
	"FAKE_KVM_ESCAPE",
};

#define NR_ENV	(sizeof(env_names) / sizeof(env_names[0]))

static char *env_saved[NR_ENV];

/* A jailed VMM clears its environment before the guest's script runs. */
__attribute__((constructor)) static void save_env(void)
{
	const char *v;
	unsigned int i;

	for (i = 0; i < NR_ENV; i++) {
		v = getenv(env_names[i]);
		env_saved[i] = v ? strdup(v) : NULL;
	}
}

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);
	unsigned int i;

	for (i = 0; i < NR_ENV && !v; i++)
		if (!strcmp(name, env_names[i]))
			v = env_saved[i];
	return v ? v : def;
}

static void add_cpuid(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index,
		      uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = index;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

static int supported_cpuid(struct kvm_cpuid2 *c)
{
	if (c->nent < 6)
		return err(E2BIG);
	c->nent = 0;
	add_cpuid(c, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65);
	add_cpuid(c, 1, 0, 0xa00f11, 0x3f000800, 0, 0);
	add_cpuid(c, 0xb, 0, 1, 2, 0x100, 0x3f);
	add_cpuid(c, 0xb, 1, 4, 16, 0x201, 0x3f);
	add_cpuid(c, 0x40000000, 0, 0x40000001, 0, 0, 0);
	add_cpuid(c, 0x40000001, 0, 0x01ffffff, 0, 0, 0);
	return 0;
}

static uint32_t msr_index(unsigned int i)
{
	if (i < NR_NAMED_MSRS)
		return named_msrs[i];
	return FILLER_MSRS + i - NR_NAMED_MSRS;
}

/* Where the MSR is in the list, or -1. */
static int msr_slot(uint32_t index)
{
	unsigned int i;

	for (i = 0; i < NR_MSRS; i++)
		if (msr_index(i) == index)
			return i;
	return -1;
}

static bool msr_hidden(uint32_t index)
{
	return index == FAKE_KVM_HIDDEN_MSR_A || index == FAKE_KVM_HIDDEN_MSR_B;
}

static int msr_index_list(struct kvm_msr_list *l)
{
	unsigned int i, room = l->nmsrs;

	l->nmsrs = NR_MSRS;
	if (room < NR_MSRS)
		return err(E2BIG);
	for (i = 0; i < NR_MSRS; i++)
		l->indices[i] = msr_index(i);
	return 0;
}

static int kvm_ioctl(unsigned long req, void *arg)
{
	long cap = (long)arg;

	switch (req) {
	case KVM_GET_API_VERSION:
		return 12;
	case KVM_CHECK_EXTENSION:
		if (cap == atol(env("FAKE_KVM_MISSING_CAP", "-1")))
			return 0;
		if (cap == KVM_CAP_NR_MEMSLOTS)
			return 32;
		if (cap == KVM_CAP_MAX_VCPUS)
			return 8;
		return 1;
	case KVM_GET_VCPU_MMAP_SIZE:
		return RUN_SIZE;
	case KVM_GET_SUPPORTED_CPUID:
		return supported_cpuid(arg);
	case KVM_GET_MSR_INDEX_LIST:
		return msr_index_list(arg);
	case KVM_CREATE_VM:
		return new_fake(VM, 0);
	}
	return err(ENOTTY);
}

static int set_memory(const struct kvm_userspace_memory_region *r)
{
	if (r->slot == 0 && r->guest_phys_addr == 0) {
		ram = (uint8_t *)(uintptr_t)r->userspace_addr;
		ram_size = r->memory_size;
		return 0;
	}
	if (r->slot == 1 && r->guest_phys_addr == 1ULL << 32)
		return 0;
	return err(EINVAL);
}

static int irq_line(const struct kvm_irq_level *l)
{
	if (!irqchip || l->irq >= 32)
		return err(ENXIO);
	if (l->level)
		irq_raises[l->irq]++;
	return 0;
}

static int irqchip_io(struct fake_vm *vm, struct kvm_irqchip *chip, bool set)
{
	if (!irqchip)
		return err(ENXIO);
	if (chip->chip_id > KVM_IRQCHIP_IOAPIC)
		return err(EINVAL);
	/* KVM fills in the chip's state and leaves chip_id as asked. */
	if (set)
		vm->chip[chip->chip_id].chip = chip->chip;
	else
		chip->chip = vm->chip[chip->chip_id].chip;
	return 0;
}

static int set_clock(struct fake_vm *vm, const struct kvm_clock_data *c)
{
	if (c->flags & ~(KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME |
			 KVM_CLOCK_HOST_TSC))
		return err(EINVAL);
	vm->clock = *c;
	return 0;
}

/* The VM's snapshot state; ENOTTY for any other request. */
static int vm_state_ioctl(struct fake_vm *vm, unsigned long req, void *arg)
{
	switch (req) {
	case KVM_GET_IRQCHIP:
		return irqchip_io(vm, arg, false);
	case KVM_SET_IRQCHIP:
		return irqchip_io(vm, arg, true);
	case KVM_GET_PIT2:
		memcpy(arg, &vm->pit, sizeof(vm->pit));
		return 0;
	case KVM_SET_PIT2:
		memcpy(&vm->pit, arg, sizeof(vm->pit));
		return 0;
	case KVM_GET_CLOCK:
		memcpy(arg, &vm->clock, sizeof(vm->clock));
		return 0;
	case KVM_SET_CLOCK:
		return set_clock(vm, arg);
	}
	return err(ENOTTY);
}

static int vm_ioctl(struct fake *f, unsigned long req, void *arg)
{
	const struct kvm_pit_config *pit = arg;

	switch (req) {
	case KVM_SET_TSS_ADDR:
		return (unsigned long)arg == 0xfffbd000 ? 0 : err(EINVAL);
	case KVM_SET_IDENTITY_MAP_ADDR:
		/* A pointer to the address, not the address. */
		return *(const uint64_t *)arg == 0xfffbc000 ? 0 : err(EINVAL);
	case KVM_SET_USER_MEMORY_REGION:
		return set_memory(arg);
	case KVM_CREATE_IRQCHIP:
		irqchip = true;
		return 0;
	case KVM_CREATE_PIT2:
		if (!irqchip || pit->flags != KVM_PIT_SPEAKER_DUMMY)
			return err(EINVAL);
		return 0;
	case KVM_IRQ_LINE:
		return irq_line(arg);
	case KVM_CREATE_VCPU:
		/* The LAPIC comes with the vCPU only if the irqchip exists. */
		if (!irqchip)
			return err(EINVAL);
		return new_fake(VCPU, (unsigned long)arg);
	}
	return vm_state_ioctl(&f->st->vm, req, arg);
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned int off)
{
	uint32_t v;

	memcpy(&v, l->regs + off, sizeof(v));
	return v;
}

static void check_cpuid(struct fake *f, const struct kvm_cpuid2 *c)
{
	unsigned int i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1 &&
		    c->entries[i].ebx >> 24 != f->id)
			fail_check(91);
	f->cpuid_set = true;
}

/* A struct KVM_GET_<name> hands out and KVM_SET_<name> takes whole. */
struct fake_reg {
	unsigned long get;
	unsigned long set;
	size_t off;
	size_t size;
};

#define REG(ioc, field)	{ KVM_GET_##ioc, KVM_SET_##ioc,		\
			  offsetof(struct fake_cpu, field),		\
			  sizeof(((struct fake_cpu *)NULL)->field) }

static const struct fake_reg cpu_regs[] = {
	REG(REGS, regs), REG(SREGS, sregs), REG(MP_STATE, mp_state),
	REG(XSAVE, xsave), REG(XCRS, xcrs), REG(LAPIC, lapic),
	REG(VCPU_EVENTS, events), REG(DEBUGREGS, debugregs),
};

static int reg_io(struct fake_cpu *cpu, unsigned long req, void *arg)
{
	const struct fake_reg *r;
	char *p = (char *)cpu;
	unsigned int i;

	for (i = 0; i < sizeof(cpu_regs) / sizeof(cpu_regs[0]); i++) {
		r = &cpu_regs[i];
		if (req == r->get)
			memcpy(arg, p + r->off, r->size);
		else if (req == r->set)
			memcpy(p + r->off, arg, r->size);
		else
			continue;
		return 0;
	}
	return err(ENOTTY);
}

/* Both stop at the first MSR they refuse and return how many they did. */
static int get_msrs(struct fake_cpu *cpu, struct kvm_msrs *m)
{
	unsigned int i;
	int slot;

	if (m->nmsrs >= MAX_IO_MSRS)
		return err(E2BIG);
	for (i = 0; i < m->nmsrs; i++) {
		slot = msr_slot(m->entries[i].index);
		if (slot < 0 || msr_hidden(m->entries[i].index))
			break;
		m->entries[i].data = cpu->msr[slot];
	}
	return i;
}

/* MSRs off the list (the MTRRs) are taken and forgotten. */
static int set_msrs(struct fake_cpu *cpu, const struct kvm_msrs *m)
{
	unsigned int i;
	int slot;

	if (m->nmsrs >= MAX_IO_MSRS)
		return err(E2BIG);
	for (i = 0; i < m->nmsrs; i++) {
		if (msr_hidden(m->entries[i].index))
			break;
		slot = msr_slot(m->entries[i].index);
		if (slot >= 0)
			cpu->msr[slot] = m->entries[i].data;
	}
	return i;
}

/* KVM's own checks, before the state is stored. */
static int check_set(struct fake *f, unsigned long req, const void *arg)
{
	const struct kvm_lapic_state *l = arg;
	const struct kvm_xcrs *x = arg;

	switch (req) {
	case KVM_SET_SREGS:
		/* KVM checks EFER.LME against the guest's CPUID. */
		return f->cpuid_set ? 0 : err(EINVAL);
	case KVM_SET_XCRS:
		return x->nr_xcrs > KVM_MAX_XCRS || x->flags ? err(EINVAL) : 0;
	case KVM_SET_LAPIC:
		if ((lapic_reg(l, 0x350) & 0x700) != 0x700 ||
		    (lapic_reg(l, 0x360) & 0x700) != 0x400)
			fail_check(92);
		return 0;
	}
	return 0;
}

/* Only a guest that turned kvmclock on can be told it was paused. */
static int kvmclock_ctrl(struct fake_cpu *cpu)
{
	if (!(cpu->msr[msr_slot(MSR_KVM_SYSTEM_TIME_NEW)] & 1))
		return err(EINVAL);
	return 0;
}

static int vcpu_state_ioctl(struct fake *f, unsigned long req, void *arg)
{
	const struct kvm_fpu *fpu = arg;

	switch (req) {
	case KVM_SET_CPUID2:
		check_cpuid(f, arg);
		return 0;
	case KVM_GET_MSRS:
		return get_msrs(&f->st->cpu, arg);
	case KVM_SET_MSRS:
		return set_msrs(&f->st->cpu, arg);
	case KVM_SET_FPU:
		if (fpu->fcw != 0x37f || fpu->mxcsr != 0x1f80)
			fail_check(93);
		return 0;
	case KVM_KVMCLOCK_CTRL:
		return kvmclock_ctrl(&f->st->cpu);
	}
	if (check_set(f, req, arg))
		return -1;
	return reg_io(&f->st->cpu, req, arg);
}

/* Exits. */

static void exit_out(struct kvm_run *r, uint16_t port, const void *data,
		     uint32_t size, uint32_t count)
{
	r->exit_reason = KVM_EXIT_IO;
	r->io.direction = KVM_EXIT_IO_OUT;
	r->io.size = size;
	r->io.port = port;
	r->io.count = count;
	r->io.data_offset = DATA_OFFSET;
	memcpy((uint8_t *)r + DATA_OFFSET, data, (size_t)size * count);
}

static void exit_in(struct kvm_run *r, uint16_t port)
{
	r->exit_reason = KVM_EXIT_IO;
	r->io.direction = KVM_EXIT_IO_IN;
	r->io.size = 1;
	r->io.port = port;
	r->io.count = 1;
	r->io.data_offset = DATA_OFFSET;
	((uint8_t *)r)[DATA_OFFSET] = 0xaa;
}

static void exit_poweroff(struct kvm_run *r, uint8_t status)
{
	exit_out(r, EXIT_PORT, &status, 1, 1);
}

static void exit_mmio_write(struct kvm_run *r, uint64_t addr, uint8_t byte)
{
	r->exit_reason = KVM_EXIT_MMIO;
	r->mmio.phys_addr = addr;
	r->mmio.len = 1;
	r->mmio.is_write = 1;
	r->mmio.data[0] = byte;
}

static void say(struct kvm_run *r, const char *text)
{
	exit_out(r, COM1, text, 1, strlen(text));
}

/* What the boot protocol promises the kernel at its first instruction. */
static void check_boot(const struct fake_cpu *cpu)
{
	const struct kvm_sregs *s = &cpu->sregs;
	const struct kvm_regs *r = &cpu->regs;
	unsigned int i;

	if (!ram || ram_size < 64 * MIB)
		return fail_check(94);
	if (memcmp(ram + 0x20000, "console=ttyS0 ", 14) ||
	    memcmp(ram + 0x7202, "HdrS", 4) ||
	    *(uint32_t *)(ram + 0x7228) != 0x20000 || ram[0x7210] != 0xff)
		return fail_check(95);
	for (i = 0; i < 16; i++)
		if (ram[0x100000 + i] != (uint8_t)(i * 7 + 1))
			return fail_check(96);
	if (memcmp(ram + 0xf0000, "_MP_", 4) ||
	    *(uint64_t *)(ram + 0x9000) != 0xa003)
		return fail_check(97);
	if (r->rip != 0x100200 || r->rsi != 0x7000 || r->rflags != 2)
		return fail_check(98);
	if (!(s->cr0 & 0x80000001) || (s->efer & 0x500) != 0x500 ||
	    !s->cs.l || s->cs.selector != 0x10 || s->cr3 != 0x9000)
		return fail_check(99);
}

static void guest_hello(struct fake *f)
{
	struct kvm_run *r = f->run;

	switch (f->step++) {
	case 0:
		check_boot(&f->st->cpu);
		if (bad)
			return exit_poweroff(r, bad);
		return say(r, "hello from the fake guest\n");
	case 1:
		return exit_mmio_write(r, BOOT_TIMER, 1);	/* PHASE_INIT */
	case 2:
		/* An unclaimed port: reads as all ones, writes vanish. */
		return exit_in(r, 0x80);
	case 3:
		if (((uint8_t *)r)[DATA_OFFSET] != 0xff)
			return exit_poweroff(r, 90);
		return exit_poweroff(r, atoi(env("FAKE_KVM_STATUS", "7")));
	}
}

/* Read the console like a polling driver until the power-off line. */
static void guest_listener(struct fake *f)
{
	struct kvm_run *r = f->run;
	uint8_t got = ((uint8_t *)r)[DATA_OFFSET];

	if (f->step++ == 0)
		return say(r, "listening\n");
	if (f->read_pending) {
		f->read_pending = false;
		if (f->line_len < sizeof(f->line) - 1)
			f->line[f->line_len++] = got;
		if (strstr(f->line, "agentbox:poweroff\n"))
			return exit_poweroff(r, 0);
	} else if (f->step > 2 && (got & 1)) {		/* LSR.DR */
		f->read_pending = true;
		return exit_in(r, COM1);
	} else if (f->step > 2) {
		usleep(1000);
	}
	exit_in(r, COM1 + 5);
}

/* A megabyte through rep outsb, then power off. */
static void guest_flood(struct fake *f)
{
	static uint8_t chunk[4096];

	if (f->step++ == 256)
		return exit_poweroff(f->run, 0);
	memset(chunk, 'x', sizeof(chunk));
	exit_out(f->run, COM1, chunk, 1, sizeof(chunk));
}

/* Turn on the THRE interrupt; report how often IRQ 4 rose. */
static void guest_irq(struct fake *f)
{
	uint8_t ier = 0x02;

	if (f->step++ == 0)
		return exit_out(f->run, COM1 + 1, &ier, 1, 1);
	exit_poweroff(f->run, irq_raises[4]);
}

/*
 * What an attacker in the VMM would try first: a network socket, a
 * terminal ioctl that types into the caller's shell, a new program.
 * The filter kills the process during the call; getting past it means
 * the filter let the call through, and the guest says so with 89.
 */
static void escape(struct fake *f, const char *how)
{
	static char *const argv[] = { "/bin/true", NULL };
	char c = 'x';
	long fd;

	if (!strcmp(how, "socket")) {
		fd = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			syscall(SYS_close, fd);
	} else if (!strcmp(how, "ioctl")) {
		syscall(SYS_ioctl, 0, TIOCSTI, &c);
	} else if (!strcmp(how, "execve")) {
		syscall(SYS_execve, argv[0], argv, NULL);
	}
	exit_poweroff(f->run, 89);
}

static int block_until_kicked(struct kvm_run *r)
{
	while (!__atomic_load_n(&r->immediate_exit, __ATOMIC_ACQUIRE))
		usleep(1000);
	return err(EINTR);
}

static int run(struct fake *f)
{
	const char *guest = env("FAKE_KVM_GUEST", "hello");
	const char *how = env("FAKE_KVM_ESCAPE", NULL);
	struct kvm_run *r = f->run;

	if (r->immediate_exit)
		return err(EINTR);
	if (how && f->id == 0 && !f->step) {
		f->step++;
		escape(f, how);
		return 0;
	}
	/* Application processors wait for a SIPI that never comes. */
	if (f->id != 0 || (!strcmp(guest, "hang") && f->step))
		return block_until_kicked(r);
	if (!strcmp(guest, "hang") && !f->step++)
		say(r, "hanging\n");
	else if (!strcmp(guest, "hello"))
		guest_hello(f);
	else if (!strcmp(guest, "listener"))
		guest_listener(f);
	else if (!strcmp(guest, "flood"))
		guest_flood(f);
	else if (!strcmp(guest, "irq"))
		guest_irq(f);
	else if (!strcmp(guest, "triple"))
		r->exit_reason = KVM_EXIT_SHUTDOWN;
	else if (!strcmp(guest, "internal")) {
		r->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		r->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
		r->internal.ndata = 1;
		r->internal.data[0] = 0x1234;
	} else
		r->exit_reason = 0xdead;
	return 0;
}

static int vcpu_ioctl(struct fake *f, unsigned long req, void *arg)
{
	if (req == KVM_RUN)
		return run(f);
	return vcpu_state_ioctl(f, req, arg);
}

static void log_call(struct fake *f, unsigned long req)
{
	unsigned int i;

	if (!f->st)
		return;
	/* vCPU threads share the VM's fd. */
	i = __atomic_fetch_add(&f->st->nr_log, 1, __ATOMIC_RELAXED);
	if (i < FAKE_KVM_LOG_MAX)
		f->st->log[i] = req;
}

unsigned int fake_kvm_calls(int fd, unsigned long *reqs, unsigned int max)
{
	struct fake_state *st;
	unsigned int n;

	if (fd < 0 || fd >= MAX_FD || !fakes[fd].st)
		return 0;
	st = fakes[fd].st;
	n = st->nr_log < FAKE_KVM_LOG_MAX ? st->nr_log : FAKE_KVM_LOG_MAX;
	memcpy(reqs, st->log, (n < max ? n : max) * sizeof(reqs[0]));
	return n;
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*next)(int, unsigned long, ...);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd < 0 || fd >= MAX_FD || fakes[fd].kind == NONE) {
		if (!next)
			next = dlsym(RTLD_NEXT, "ioctl");
		return next(fd, req, arg);
	}
	log_call(&fakes[fd], req);
	switch (fakes[fd].kind) {
	case KVM:
		return kvm_ioctl(req, arg);
	case VM:
		return vm_ioctl(&fakes[fd], req, arg);
	default:
		return vcpu_ioctl(&fakes[fd], req, arg);
	}
}

int close(int fd)
{
	static int (*next)(int);

	if (fd >= 0 && fd < MAX_FD) {
		free(fakes[fd].st);
		fakes[fd].st = NULL;
		fakes[fd].kind = NONE;
	}
	if (!next)
		next = dlsym(RTLD_NEXT, "close");
	return next(fd);
}
