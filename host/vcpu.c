#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "compiler.h"
#include "cpu.h"
#include "log.h"
#include "longmode.h"
#include "regdump.h"
#include "vcpu.h"

/* Read by the kick handler; each vCPU thread points it at its own run. */
static __thread struct kvm_run *current_run;

/*
 * If the kick lands while the thread is outside KVM_RUN, immediate_exit
 * makes the next KVM_RUN return at once instead of sleeping in a halted
 * guest: the race a flag check alone would leave open.
 */
static void kick_handler(int sig)
{
	(void)sig;
	if (current_run)
		current_run->immediate_exit = 1;
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a kicked blocking call must return. */
	sa.sa_flags = 0;
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

static int fail(int err, char *why, size_t n, unsigned int id,
		const char *what)
{
	snprintf(why, n, "vcpu %u: %s: %s", id, what, strerror(-err));
	return err;
}

int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id,
		const struct vcpu_env *env, char *why, size_t why_size)
{
	void *run;

	memset(v, 0, sizeof(*v));
	v->id = id;
	v->env = env;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return fail(-errno, why, why_size, id, "KVM_CREATE_VCPU");
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   v->fd, 0);
	if (run == MAP_FAILED) {
		close(v->fd);
		v->fd = -1;
		return fail(-errno, why, why_size, id, "mmap kvm_run");
	}
	v->run = run;
	v->run_size = vm->run_size;
	return 0;
}

static int set_boot_regs(struct vcpu *v, uint64_t entry, char *why, size_t n)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(-errno, why, n, v->id, "KVM_GET_SREGS");
	longmode_sregs(&sregs);
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return fail(-errno, why, n, v->id, "KVM_SET_SREGS");
	longmode_regs(&regs, entry);
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return fail(-errno, why, n, v->id, "KVM_SET_REGS");
	return 0;
}

int vcpu_configure(struct vcpu *v, struct vm *vm, unsigned int nr_cpus,
		   uint64_t entry, char *why, size_t why_size)
{
	int err;

	err = cpu_configure(v->fd, vm->cpuid, v->id, nr_cpus, why, why_size);
	if (err || v->id != 0)
		return err;
	return set_boot_regs(v, entry, why, why_size);
}

void vcpu_dump_regs(struct vcpu *v)
{
	char buf[REGDUMP_SIZE];
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	bool have_regs, have_sregs;

	have_regs = ioctl(v->fd, KVM_GET_REGS, &regs) == 0;
	have_sregs = ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0;
	regdump_format(buf, sizeof(buf), have_regs ? &regs : NULL,
		       have_sregs ? &sregs : NULL);
	pr_block(buf);
}

/* Only the vCPU that ends the run explains why. */
__printf(3, 4)
static void end_run(struct vcpu *v, enum stop_reason reason,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!stop_request(v->env->stop, reason, 0))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("vcpu %u: %s; registers:", v->id, msg);
	vcpu_dump_regs(v);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	uint32_t i;

	/* KVM's own bounds, checked so a KVM bug cannot make us one. */
	if (r->io.data_offset > v->run_size ||
	    (uint64_t)r->io.size * r->io.count > v->run_size - r->io.data_offset)
		return;
	for (i = 0; i < r->io.count; i++, data += r->io.size) {
		if (r->io.direction == KVM_EXIT_IO_OUT)
			bus_write(v->env->pio, r->io.port, data, r->io.size);
		else
			bus_read(v->env->pio, r->io.port, data, r->io.size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *r = v->run;

	if (r->mmio.len > sizeof(r->mmio.data))
		return;
	if (r->mmio.is_write)
		bus_write(v->env->mmio, r->mmio.phys_addr, r->mmio.data,
			  r->mmio.len);
	else
		bus_read(v->env->mmio, r->mmio.phys_addr, r->mmio.data,
			 r->mmio.len);
}

static void handle_system_event(struct vcpu *v)
{
	uint32_t type = v->run->system_event.type;

	switch (type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		if (stop_request(v->env->stop, STOP_POWEROFF, 0))
			pr_info("vcpu %u: the guest shut down", v->id);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		end_run(v, STOP_RESET, "the guest asked for a reset (KVM_EXIT_SYSTEM_EVENT)");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		end_run(v, STOP_RESET, "the guest reported a crash (KVM_EXIT_SYSTEM_EVENT)");
		break;
	default:
		end_run(v, STOP_ERROR, "unhandled system event %u (KVM_EXIT_SYSTEM_EVENT)",
			type);
		break;
	}
}

static const char *suberror_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected hardware exit reason";
	}
	return "unknown suberror";
}

static void handle_internal_error(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	char data[200] = "";
	size_t len = 0;
	uint32_t i;

	for (i = 0; i < r->internal.ndata && i < 16 && len < sizeof(data); i++)
		len += snprintf(data + len, sizeof(data) - len, " 0x%llx",
				(unsigned long long)r->internal.data[i]);
	end_run(v, STOP_ERROR, "KVM internal error %u: %s (KVM_EXIT_INTERNAL_ERROR, data:%s)",
		r->internal.suberror, suberror_name(r->internal.suberror),
		len ? data : " none");
}

/* Returns true when the exit ends this vCPU's loop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *r = v->run;

	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return false;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return false;
	case KVM_EXIT_INTR:
		return false;
	case KVM_EXIT_SHUTDOWN:
		end_run(v, STOP_RESET, "the guest reset or triple-faulted (KVM_EXIT_SHUTDOWN)");
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		return true;
	case KVM_EXIT_HLT:
		/* The in-kernel LAPIC handles HLT; this one has no waker. */
		end_run(v, STOP_ERROR, "the vCPU halted outside the in-kernel LAPIC (KVM_EXIT_HLT)");
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal_error(v);
		return true;
	case KVM_EXIT_FAIL_ENTRY:
		end_run(v, STOP_ERROR, "KVM could not enter the guest, hardware reason 0x%llx (KVM_EXIT_FAIL_ENTRY)",
			(unsigned long long)r->fail_entry.hardware_entry_failure_reason);
		return true;
	case KVM_EXIT_UNKNOWN:
		end_run(v, STOP_ERROR, "unknown exit, hardware reason 0x%llx (KVM_EXIT_UNKNOWN)",
			(unsigned long long)r->hw.hardware_exit_reason);
		return true;
	}
	end_run(v, STOP_ERROR, "unhandled exit reason %u", r->exit_reason);
	return true;
}

/* Returns true when the loop must end. */
static bool run_once(struct vcpu *v)
{
	int err;

	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		return handle_exit(v);
	err = errno;
	if (err == EINTR || err == EAGAIN) {
		/* The stop flag, set before any kick, decides what next. */
		v->run->immediate_exit = 0;
		return false;
	}
	end_run(v, STOP_ERROR, "KVM_RUN: %s", strerror(err));
	return true;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t kick;

	current_run = v->run;
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	while (!stop_requested(v->env->stop)) {
		pause_point(v->env->pause, v->env->stop);
		if (run_once(v))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int err;

	err = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (err)
		return -err;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (v->started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	v->run = NULL;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}
