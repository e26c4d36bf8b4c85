/*
 * agentbox run: boot a Linux microVM on /dev/kvm.
 *
 * The start order is spelled out in run(): every input is checked first
 * (options, disks, kernel, initrd, command line) so mistakes cost nothing;
 * then vm -> memory -> irqchip -> boot -> devices -> vcpus. The main
 * thread then only supervises: signals, console input, and the end of
 * the run, which it maps to our exit status.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include "boot.h"
#include "boottimer.h"
#include "agent_client.h"
#include "cli_agent.h"
#include "cli_control.h"
#include "compiler.h"
#include "control.h"
#include "devices.h"
#include "irq.h"
#include "jail.h"
#include "log.h"
#include "mptable.h"
#include "options.h"
#include "pause.h"
#include "seccomp_filter.h"
#include "snapshot.h"
#include "snapshot_mem.h"
#include "stop.h"
#include "vcpu.h"
#include "vcpu_state.h"
#include "vm.h"

/*
 * Exit statuses besides the guest's own (documented in opts_usage);
 * SECCOMP_FILTER_STATUS (121) is the filter's.
 */
#define EXIT_GUEST_RESET	122
#define EXIT_VMM_ERROR		123
#define EXIT_SETUP		125

#define POWEROFF_LINE		"\nagentbox:poweroff\n"
#define POWEROFF_GRACE_MS	10000
/* How often to retry console input the guest has not made room for. */
#define RETRY_MS		50
#define CONSOLE_FLUSH_MS	2000
#define WHY_MAX			512
/* How long a restored guest's agent may take to answer. */
#define AGENT_FIXUP_MS		10000
#define FIXUP_RETRY_MS		20

struct vmm {
	struct run_opts opts;
	struct boottimer bt;
	struct stop stop;
	struct devices dev;
	struct boot boot;
	struct vm vm;
	struct vcpu_env env;
	struct vcpu vcpu[MPTABLE_MAX_CPUS];
	unsigned int nr_vcpus;
	int sfd;
	struct pause pause;
	bool paused;
	struct control control;
	/* The MSRs a snapshot saves, listed at the first snapshot. */
	struct vcpu_msr_list *msrs;
	/* agentbox restore: the snapshot, and its memory file. */
	bool restoring;
	struct snapshot_image img;
	int mem_fd;
	/* /dev/kvm opened before --jail, until vm_open() takes it over. */
	int kvm_fd;
};

/* Too big for the stack; there is exactly one. */
static struct vmm vmm;

__printf(2, 3) __attribute__((noreturn))
static void die(int status, const char *fmt, ...)
{
	char msg[WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s", msg);
	exit(status);
}

/*
 * SIGTERM and SIGINT arrive through a signalfd, so they must be blocked in
 * every thread: block them here, before any thread exists to inherit the
 * mask. The kick signal is blocked too; vCPU threads unblock it.
 */
static int setup_signals(struct vmm *m)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	sigdelset(&set, VCPU_KICK_SIGNAL);
	m->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->sfd < 0)
		return -errno;
	/*
	 * A console reader that went away must not kill the VM, nor may a
	 * terminal stop it for reading or writing in the background: the
	 * calls fail instead, and console input or output ends.
	 */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	return vcpu_signals_init();
}

static void check_inputs(struct vmm *m)
{
	struct boot_config cfg;
	char why[WHY_MAX];

	if (devices_open(&m->dev, &m->opts, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	if (m->restoring)
		return;
	cfg = (struct boot_config){
		.kernel = m->opts.kernel,
		.initrd = m->opts.initrd,
		.cmdline = m->opts.cmdline,
		.mem = m->opts.mem,
		.mem_arg = m->opts.mem_arg,
		.nr_virtio = devices_nr_virtio(&m->dev),
	};
	if (boot_prepare(&m->boot, &cfg, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	boottimer_mark(&m->bt, "inputs checked");
}

static void print_plan(struct vmm *m)
{
	const struct kernel_image *k = &m->boot.k;
	unsigned int i;

	printf("kernel: %s (%s), entry 0x%llx, needs memory up to 0x%llx\n",
	       m->opts.kernel, k->format == KERNEL_ELF ? "ELF" : "bzImage",
	       (unsigned long long)k->entry, (unsigned long long)k->end);
	if (m->opts.initrd)
		printf("initrd: %s, %llu bytes at 0x%llx\n", m->opts.initrd,
		       (unsigned long long)m->boot.initrd_size,
		       (unsigned long long)m->boot.initrd_gpa);
	for (i = 0; i < m->dev.nr_disks; i++)
		printf("disk vd%c: %s%s, %llu sectors, virtio-mmio 0x%llx irq %u\n",
		       'a' + i, m->dev.blk[i].path,
		       m->dev.blk[i].ro ? " (read-only)" : "",
		       (unsigned long long)m->dev.blk[i].capacity,
		       (unsigned long long)layout_virtio_mmio_addr(i),
		       layout_virtio_irq(i));
	printf("rng: virtio-mmio 0x%llx irq %u\n",
	       (unsigned long long)layout_virtio_mmio_addr(i),
	       layout_virtio_irq(i));
	/* Net, when there, has the last virtio slot. */
	i = devices_nr_virtio(&m->dev) - 1;
	if (m->dev.has_net)
		printf("net: tap %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, virtio-mmio 0x%llx irq %u\n",
		       m->dev.net.ifname, m->dev.net.mac[0], m->dev.net.mac[1],
		       m->dev.net.mac[2], m->dev.net.mac[3], m->dev.net.mac[4],
		       m->dev.net.mac[5],
		       (unsigned long long)layout_virtio_mmio_addr(i),
		       layout_virtio_irq(i));
	printf("memory: %llu MiB, vcpus: %u\n",
	       (unsigned long long)(m->opts.mem >> 20), m->opts.cpus);
	printf("cmdline: %s\n", m->boot.cmdline_buf);
}

static int create_vcpus(struct vmm *m, char *why, size_t n)
{
	unsigned int i;
	int err;

	m->env = (struct vcpu_env){
		.pio = &m->dev.pio,
		.mmio = &m->dev.mmio,
		.stop = &m->stop,
		.pause = &m->pause,
	};
	for (i = 0; i < m->opts.cpus; i++) {
		err = vcpu_create(&m->vcpu[i], &m->vm, i, &m->env, why, n);
		if (err)
			return err;
		m->nr_vcpus++;
		err = vcpu_configure(&m->vcpu[i], &m->vm, m->opts.cpus,
				     m->boot.k.entry, why, n);
		if (err)
			return err;
	}
	return 0;
}

/* All vCPUs are fully set up before the first one runs. */
static int start_vcpus(struct vmm *m, char *why, size_t n)
{
	unsigned int i;
	int err;

	for (i = 0; i < m->nr_vcpus; i++) {
		err = vcpu_start(&m->vcpu[i]);
		if (err) {
			snprintf(why, n, "vcpu %u: thread: %s", i, strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * Everything that needs more than the filter allows is done; from the
 * guest's first instruction on, the VMM keeps to the allowlist.
 */
static int lock_down(struct vmm *m, char *why, size_t n)
{
	int err;

	if (m->opts.no_seccomp) {
		pr_warn("--no-seccomp: the guest runs without the system call filter");
		return 0;
	}
	err = seccomp_filter_install(why, n);
	if (!err)
		boottimer_mark(&m->bt, "seccomp");
	return err;
}

/* The VM on the /dev/kvm a jailed run opened, or on one opened now. */
static int open_vm(struct vmm *m, char *why, size_t n)
{
	int kvm_fd = m->kvm_fd;

	m->kvm_fd = -1;
	return vm_open(&m->vm, kvm_fd, m->opts.cpus, why, n);
}

/* vm -> memory -> irqchip -> boot -> devices -> vcpus. */
static int build_vm(struct vmm *m, char *why, size_t n)
{
	int err;

	err = open_vm(m, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "vm");
	err = vm_setup_memory(&m->vm, m->opts.mem, -1, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "memory");
	err = irq_create(m->vm.fd, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "irqchip");
	err = boot_load(&m->boot, &m->vm.gm, m->opts.cpus, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "boot");
	err = devices_attach(&m->dev, &m->vm, &m->stop, &m->bt, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "devices");
	err = create_vcpus(m, why, n);
	if (!err)
		err = lock_down(m, why, n);
	if (!err)
		err = start_vcpus(m, why, n);
	if (!err)
		boottimer_mark(&m->bt, "vcpus");
	return err;
}

static struct snapshot_machine machine_of(struct vmm *m)
{
	return (struct snapshot_machine){
		.vm = &m->vm,
		.vcpu = m->vcpu,
		.nr_vcpus = m->nr_vcpus,
		.dev = &m->dev,
		.opts = &m->opts,
		.msrs = m->msrs,
	};
}

/*
 * The same order as build_vm(), with the snapshot's state poured into
 * each part once it exists, and the vCPUs started last of all.
 */
static int build_restored_vm(struct vmm *m, char *why, size_t n)
{
	struct snapshot_machine sm;
	int err;

	err = open_vm(m, why, n);
	if (!err)
		err = snapshot_check_cpuid(&m->img, m->vm.cpuid, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "vm");
	err = vm_setup_memory(&m->vm, m->opts.mem, m->mem_fd, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "memory mapped");
	err = irq_create(m->vm.fd, why, n);
	if (!err)
		err = devices_attach(&m->dev, &m->vm, &m->stop, &m->bt, why, n);
	if (!err)
		err = create_vcpus(m, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "vm built");
	sm = machine_of(m);
	err = snapshot_restore_state(&m->img, &sm, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "state restored");
	/* The guest runs on without it; only its old connections hang. */
	if (devices_after_restore(&m->dev, why, n))
		pr_warn("%s", why);
	err = lock_down(m, why, n);
	if (!err)
		err = start_vcpus(m, why, n);
	if (!err)
		boottimer_mark(&m->bt, "resumed");
	return err;
}

/* Park every vCPU between two KVM_RUNs; a paused VM stays paused. */
static int pause_vm(struct vmm *m)
{
	unsigned int i;
	int err;

	if (m->paused)
		return 0;
	pause_request(&m->pause);
	for (i = 0; i < m->nr_vcpus; i++)
		vcpu_kick(&m->vcpu[i]);
	err = pause_wait(&m->pause, m->nr_vcpus, &m->stop);
	if (err) {
		pause_release(&m->pause);
		return err;
	}
	/* Tell a kvmclock guest it was stopped, so its watchdogs forgive the gap. */
	for (i = 0; i < m->nr_vcpus; i++)
		vcpu_state_kvmclock_ctrl(m->vcpu[i].fd);
	m->paused = true;
	return 0;
}

static void resume_vm(struct vmm *m)
{
	pause_release(&m->pause);
	m->paused = false;
}

/* Pause if need be, save to dir, and leave the VM as it was. */
static int snapshot_to(struct vmm *m, const char *dir, char *why, size_t n)
{
	struct snapshot_machine sm;
	struct snapshot_stats st;
	bool was_paused = m->paused;
	int err;

	err = pause_vm(m);
	if (err) {
		snprintf(why, n, "the VM stopped before it could pause");
		return err;
	}
	/* A vCPU ioctl waits for KVM_RUN to return: only ask a paused vCPU. */
	if (!m->msrs)
		err = vcpu_msr_list_get(m->vm.kvm_fd, m->vcpu[0].fd, &m->msrs,
					why, n);
	if (!err) {
		devices_pause(&m->dev);
		sm = machine_of(m);
		err = snapshot_save(&sm, dir, &st, why, n);
		devices_resume(&m->dev);
	}
	if (!was_paused)
		resume_vm(m);
	if (!err)
		snprintf(why, n, "%s: %llu MiB of RAM stored in %.0f ms", dir,
			 (unsigned long long)(st.memory_stored >> 20), st.ms);
	return err;
}

struct supervisor {
	/* The first SIGTERM/SIGINT, 0 before any. */
	int signo;
	struct timespec deadline;
	bool poweroff_pending;
	bool stdin_open;
};

static long ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 +
	       (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void try_poweroff(struct vmm *m, struct supervisor *s)
{
	s->poweroff_pending = !serial_rx_inject(&m->dev.serial,
					(const uint8_t *)POWEROFF_LINE,
					sizeof(POWEROFF_LINE) - 1);
}

static const char *signame(int signo)
{
	return signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" :
	       "signal";
}

/* The first signal asks the guest; a second one, or the deadline, forces. */
static void on_signal(struct vmm *m, struct supervisor *s)
{
	struct signalfd_siginfo si;

	while (read(m->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (s->signo) {
			pr_info("%s again: stopping the guest now",
				signame(si.ssi_signo));
			stop_request(&m->stop, STOP_SIGNAL, si.ssi_signo);
			return;
		}
		s->signo = si.ssi_signo;
		clock_gettime(CLOCK_MONOTONIC, &s->deadline);
		s->deadline.tv_sec += POWEROFF_GRACE_MS / 1000;
		pr_info("%s: asking the guest to power off (stopping it in %d s)",
			signame(s->signo), POWEROFF_GRACE_MS / 1000);
		try_poweroff(m, s);
	}
}

/* Console input flows only while the guest has room for it. */
static void feed_stdin(struct vmm *m, struct supervisor *s)
{
	uint8_t buf[SERIAL_RX_SIZE];
	size_t room = serial_rx_space(&m->dev.serial);
	ssize_t n;

	n = read(STDIN_FILENO, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		s->stdin_open = false;
	if (n > 0)
		serial_rx_push(&m->dev.serial, buf, n);
}

enum {
	PFD_STOP,
	PFD_SIGNAL,
	PFD_CONTROL,
	PFD_READY,
	PFD_STDIN,
	NR_PFD,
};

/*
 * Wait for the end of the run, a signal, a control client, the guest's
 * readiness (for --snapshot-when-ready) or console input; poll() skips
 * the negative fds of what this run does not have. Work that waits on
 * the guest (room for input, the power-off line) is retried every
 * RETRY_MS.
 */
static void wait_events(struct vmm *m, struct supervisor *s,
			struct pollfd pfd[NR_PFD])
{
	bool room = s->stdin_open && serial_rx_space(&m->dev.serial);
	long t = -1, left;

	pfd[PFD_STOP] = (struct pollfd){ .fd = m->stop.efd, .events = POLLIN };
	pfd[PFD_SIGNAL] = (struct pollfd){ .fd = m->sfd, .events = POLLIN };
	pfd[PFD_CONTROL] = (struct pollfd){ .fd = m->control.fd,
					    .events = POLLIN };
	pfd[PFD_READY] = (struct pollfd){ .fd = m->bt.ready_fd,
					  .events = POLLIN };
	pfd[PFD_STDIN] = (struct pollfd){ .fd = room ? STDIN_FILENO : -1,
					  .events = POLLIN };
	if (s->poweroff_pending || (s->stdin_open && !room))
		t = RETRY_MS;
	if (s->signo) {
		left = ms_until(&s->deadline);
		left = left < 0 ? 0 : left;
		t = (t < 0 || left < t) ? left : t;
	}
	if (poll(pfd, NR_PFD, t) < 0 && errno != EINTR) {
		pr_err("poll: %s", strerror(errno));
		stop_request(&m->stop, STOP_ERROR, 0);
	}
}

static void on_control(struct vmm *m)
{
	char line[CONTROL_LINE_MAX], why[WHY_MAX];
	int client;

	if (control_accept(&m->control, &client, line, sizeof(line)))
		return;
	if (!strcmp(line, "pause")) {
		if (pause_vm(m))
			control_reply(client, "error: the VM stopped before it could pause");
		else
			control_reply(client, "ok paused");
	} else if (!strcmp(line, "resume")) {
		resume_vm(m);
		control_reply(client, "ok running");
	} else if (!strncmp(line, "snapshot ", 9) && line[9] == '/') {
		if (snapshot_to(m, line + 9, why, sizeof(why)))
			control_reply(client, "error: %s", why);
		else
			control_reply(client, "ok %s", why);
	} else if (!strcmp(line, "stop")) {
		if (stop_request(&m->stop, STOP_POWEROFF, 0))
			pr_info("stopped through the control socket");
		control_reply(client, "ok stopped");
	} else {
		control_reply(client, "error: unknown command (pause, resume, snapshot /DIR, stop)");
	}
	close(client);
}

/* --snapshot-when-ready: the warm template, then the run is over. */
static void on_ready(struct vmm *m)
{
	char why[WHY_MAX];
	eventfd_t v;

	if (eventfd_read(m->bt.ready_fd, &v) < 0)
		return;
	if (snapshot_to(m, m->opts.snapshot_when_ready, why, sizeof(why))) {
		pr_err("--snapshot-when-ready %s", why);
		stop_request(&m->stop, STOP_ERROR, 0);
		return;
	}
	pr_info("snapshot written to %s", why);
	stop_request(&m->stop, STOP_POWEROFF, 0);
}

static void supervise(struct vmm *m)
{
	struct supervisor s = { .stdin_open = !m->opts.console };
	struct pollfd pfd[NR_PFD];

	for (;;) {
		wait_events(m, &s, pfd);
		if (stop_requested(&m->stop))
			return;
		if (pfd[PFD_SIGNAL].revents & POLLIN)
			on_signal(m, &s);
		if (pfd[PFD_CONTROL].revents & POLLIN)
			on_control(m);
		if (pfd[PFD_READY].revents & POLLIN)
			on_ready(m);
		if (pfd[PFD_STDIN].revents)
			feed_stdin(m, &s);
		if (s.poweroff_pending)
			try_poweroff(m, &s);
		if (s.signo && ms_until(&s.deadline) <= 0 &&
		    stop_request(&m->stop, STOP_SIGNAL, s.signo))
			pr_info("the guest did not power off within %d s; stopping it",
				POWEROFF_GRACE_MS / 1000);
	}
}

static void stop_vcpus(struct vmm *m)
{
	unsigned int i;

	for (i = 0; i < m->nr_vcpus; i++)
		vcpu_kick(&m->vcpu[i]);
	for (i = 0; i < m->nr_vcpus; i++)
		vcpu_join(&m->vcpu[i]);
}

static void report_console(struct vmm *m)
{
	uint64_t dropped;
	int err;

	if (!m->dev.con_ready)
		return;
	if (console_stop(&m->dev.con, CONSOLE_FLUSH_MS))
		pr_warn("console: output still blocked after %d ms; the rest is lost",
			CONSOLE_FLUSH_MS);
	dropped = console_dropped(&m->dev.con, &err);
	if (dropped)
		pr_warn("console: dropped %llu bytes of guest output (%s)",
			(unsigned long long)dropped,
			err ? strerror(err) : "the console did not keep up");
}

static void report_timings(struct vmm *m)
{
	struct rusage ru;

	if (!m->opts.timings)
		return;
	boottimer_mark(&m->bt, "exit");
	boottimer_report(&m->bt);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		pr_info("peak RSS %ld KiB (guest RAM included as far as the guest touched it)",
			ru.ru_maxrss);
}

static int exit_status(struct vmm *m)
{
	int value;

	switch (stop_reason(&m->stop, &value)) {
	case STOP_POWEROFF:
		return value & 0xff;
	case STOP_RESET:
		return EXIT_GUEST_RESET;
	case STOP_SIGNAL:
		return 128 + value;
	case STOP_ERROR:
	case STOP_NONE:
		break;
	}
	return EXIT_VMM_ERROR;
}

/* A guest that ignored the power-off request: show where it was stuck. */
static void report_stuck_vcpus(struct vmm *m)
{
	unsigned int i;
	int value;

	if (stop_reason(&m->stop, &value) != STOP_SIGNAL)
		return;
	for (i = 0; i < m->nr_vcpus; i++) {
		pr_info("vcpu %u was at:", i);
		vcpu_dump_regs(&m->vcpu[i]);
	}
}

static void teardown(struct vmm *m)
{
	unsigned int i;

	stop_request(&m->stop, STOP_ERROR, 0);
	pause_release(&m->pause);
	stop_vcpus(m);
	report_stuck_vcpus(m);
	report_console(m);
	for (i = 0; i < m->nr_vcpus; i++)
		vcpu_destroy(&m->vcpu[i]);
	devices_close(&m->dev);
	control_close(&m->control);
	boot_release(&m->boot);
	vm_close(&m->vm);
	if (m->kvm_fd >= 0)
		close(m->kvm_fd);
	if (m->mem_fd >= 0)
		close(m->mem_fd);
	snapshot_image_free(&m->img);
	free(m->msrs);
	opts_release(&m->opts);
}

/*
 * A restore's inputs: the snapshot read and checked, its disks found (or
 * cloned) and identified, the memory file's length right. All of it
 * before /dev/kvm is opened.
 */
static void check_snapshot(struct vmm *m)
{
	char why[WHY_MAX], path[PATH_MAX + SNAP_NAME_MAX + 1];
	struct snapshot_image *img = &m->img;

	if (snapshot_load(img, m->opts.restore_dir, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	if (img->has_vsock && !m->opts.vsock)
		die(EXIT_SETUP, "--vsock: missing; the snapshot's VM has a vsock device");
	if (!img->has_vsock && m->opts.vsock)
		die(EXIT_SETUP, "--vsock %s: the snapshot's VM has no vsock device",
		    m->opts.vsock);
	if (img->has_net && !m->opts.net_tap)
		die(EXIT_SETUP, "--net: missing; the snapshot's VM has a network device");
	if (!img->has_net && m->opts.net_tap)
		die(EXIT_SETUP, "--net tap=%s: the snapshot's VM has no network device",
		    m->opts.net_tap);
	if (snapshot_prepare_disks(img, &m->opts, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	snprintf(path, sizeof(path), "%s/%s", img->dir, img->memory);
	if (snap_mem_open(path, img->ram_size, &m->mem_fd, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	m->opts.mem = img->ram_size;
	m->opts.cpus = img->nr_vcpus;
	boottimer_mark(&m->bt, "snapshot checked");
}

static void open_net(struct vmm *m)
{
	char why[WHY_MAX];

	if (devices_open_net(&m->dev, &m->opts, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
}

/*
 * /dev/kvm and --net's tap are what the VMM needs from outside the jail:
 * they are opened first, and everything after is opened inside.
 * Inherited fds go before them, so only ours are left. A dry run opens
 * nothing of KVM's here either.
 */
static void enter_jail(struct vmm *m)
{
	const struct run_opts *o = &m->opts;
	char why[WHY_MAX];
	int err;

	if (!o->jail) {
		open_net(m);
		return;
	}
	if (jail_check(o->jail, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	err = jail_close_fds(-1);
	if (err)
		die(EXIT_SETUP, "--jail %s: closing inherited fds: %s", o->jail,
		    strerror(-err));
	if (!o->dry_run) {
		m->kvm_fd = vm_open_kvm(why, sizeof(why));
		if (m->kvm_fd < 0)
			die(EXIT_SETUP, "%s", why);
	}
	open_net(m);
	if (jail_enter(o->jail, o->uid, o->gid, why, sizeof(why)))
		die(EXIT_SETUP, "%s", why);
	boottimer_mark(&m->bt, "jail");
}

/* Once the disks and RAM size are known: no file grows past them. */
static void limit_jail_files(struct vmm *m)
{
	uint64_t disks[OPT_MAX_DISKS], limit;
	char why[WHY_MAX];
	unsigned int i;

	if (!m->opts.jail)
		return;
	for (i = 0; i < m->dev.nr_disks; i++)
		disks[i] = m->dev.blk[i].capacity * VIRTIO_BLK_SECTOR;
	limit = jail_file_limit(m->opts.mem, disks, m->dev.nr_disks);
	if (jail_limit_files(limit, why, sizeof(why)))
		die(EXIT_SETUP, "--jail %s: %s", m->opts.jail, why);
}

static int fix_up_once(const char *spec, int timeout_ms, char *why,
		       size_t n)
{
	struct agent_session *s;
	int fd, err;

	fd = agent_dial(spec, timeout_ms, why, n);
	if (fd < 0)
		return fd;
	s = agent_session_new(fd, timeout_ms, why, n);
	if (!s)
		return -EIO;
	err = agent_restored(s, why, n);
	agent_session_free(s);
	return err;
}

/*
 * A restored guest wakes with the snapshot's wall clock and random
 * state, shared by every clone: its agent takes the host's time and
 * fresh entropy before the sandbox counts as ready. The first tries can
 * meet the agent still handling the transport reset, which ends a
 * connection made before it: try again until the deadline.
 */
static int fix_up_guest(struct vmm *m, char *why, size_t n)
{
	struct timespec deadline;
	char spec[PATH_MAX];
	int err;

	if (!m->opts.vsock) {
		pr_warn("no --vsock: the restored guest keeps the snapshot's clock and random state");
		return 0;
	}
	snprintf(spec, sizeof(spec), "vsock:%s", m->opts.vsock);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += AGENT_FIXUP_MS / 1000;
	do {
		err = fix_up_once(spec, AGENT_FIXUP_MS, why, n);
		if (!err) {
			boottimer_mark(&m->bt, "agent ready");
			return 0;
		}
		if (stop_requested(&m->stop))
			break;
		usleep(FIXUP_RETRY_MS * 1000);
	} while (ms_until(&deadline) > 0);
	return err;
}

static int open_control(struct vmm *m, char *why, size_t n)
{
	m->control.fd = -1;
	if (m->opts.snapshot_when_ready) {
		m->bt.ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->bt.ready_fd < 0) {
			snprintf(why, n, "eventfd: %s", strerror(errno));
			return -errno;
		}
	}
	if (!m->opts.control)
		return 0;
	return control_open(&m->control, m->opts.control, why, n);
}

static int start(struct vmm *m, char *why, size_t n)
{
	int err;

	if (!m->restoring)
		return build_vm(m, why, n);
	err = build_restored_vm(m, why, n);
	if (!err)
		err = fix_up_guest(m, why, n);
	if (!err)
		pr_info("restored from %s in %.1f ms", m->opts.restore_dir,
			boottimer_ms(&m->bt));
	return err;
}

static int run(struct vmm *m)
{
	char why[WHY_MAX];
	int err, status;

	m->vm.fd = m->vm.kvm_fd = -1;
	m->mem_fd = -1;
	m->control.fd = -1;
	m->kvm_fd = -1;
	devices_init(&m->dev);
	enter_jail(m);
	if (stop_init(&m->stop) || pause_init(&m->pause) || setup_signals(m))
		die(EXIT_SETUP, "signals: %s", strerror(errno));
	if (m->restoring)
		check_snapshot(m);
	check_inputs(m);
	limit_jail_files(m);
	if (m->opts.dry_run) {
		print_plan(m);
		teardown(m);
		return 0;
	}
	err = open_control(m, why, sizeof(why));
	if (!err)
		err = start(m, why, sizeof(why));
	if (!err)
		supervise(m);
	status = exit_status(m);
	/* A run that never started is a setup failure, not a VMM error. */
	if (err)
		pr_err("%s", why);
	teardown(m);
	report_timings(m);
	return err ? EXIT_SETUP : status;
}

static void usage(void)
{
	fputs(opts_usage, stdout);
	fputs("\n", stdout);
	fputs(opts_restore_usage, stdout);
	fputs("\nA running VM (--control SOCK):\n", stdout);
	fputs(cli_control_usage, stdout);
	fputs("\nThe guest agent:\n", stdout);
	fputs(cli_agent_usage, stdout);
}

static void parse(int argc, char *argv[])
{
	char why[WHY_MAX];
	int err;

	vmm.restoring = !strcmp(argv[1], "restore");
	if (vmm.restoring)
		err = opts_parse_restore(&vmm.opts, argc - 2, argv + 2, why,
					 sizeof(why));
	else
		err = opts_parse(&vmm.opts, argc - 2, argv + 2, why,
				 sizeof(why));
	if (err) {
		opts_release(&vmm.opts);
		die(EXIT_SETUP, "%s", why);
	}
}

int main(int argc, char *argv[])
{
	if (boottimer_init(&vmm.bt))
		die(EXIT_SETUP, "clock: %s", strerror(errno));
	if (argc < 2)
		die(EXIT_SETUP, "no command (see 'agentbox --help')");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage();
		return 0;
	}
	if (cli_agent_is_command(argv[1]))
		return cli_agent_main(argc - 1, argv + 1);
	if (cli_control_is_command(argv[1]))
		return cli_control_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") && strcmp(argv[1], "restore"))
		die(EXIT_SETUP, "%s: unknown command (see 'agentbox --help')",
		    argv[1]);
	parse(argc, argv);
	if (vmm.opts.help) {
		if (vmm.restoring)
			fputs(opts_restore_usage, stdout);
		else
			usage();
		return 0;
	}
	boottimer_mark(&vmm.bt, "options");
	return run(&vmm);
}
