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
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include "boot.h"
#include "boottimer.h"
#include "cli_agent.h"
#include "compiler.h"
#include "devices.h"
#include "irq.h"
#include "log.h"
#include "mptable.h"
#include "options.h"
#include "stop.h"
#include "vcpu.h"
#include "vm.h"

/* Exit statuses besides the guest's own (documented in opts_usage). */
#define EXIT_GUEST_RESET	122
#define EXIT_VMM_ERROR		123
#define EXIT_SETUP		125

#define POWEROFF_LINE		"\nagentbox:poweroff\n"
#define POWEROFF_GRACE_MS	10000
/* How often to retry console input the guest has not made room for. */
#define RETRY_MS		50
#define CONSOLE_FLUSH_MS	2000
#define WHY_MAX			512

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

/* vm -> memory -> irqchip -> boot -> devices -> vcpus. */
static int build_vm(struct vmm *m, char *why, size_t n)
{
	int err;

	err = vm_open(&m->vm, m->opts.cpus, why, n);
	if (err)
		return err;
	boottimer_mark(&m->bt, "vm");
	err = vm_setup_memory(&m->vm, m->opts.mem, why, n);
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
		err = start_vcpus(m, why, n);
	if (!err)
		boottimer_mark(&m->bt, "vcpus");
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

/*
 * Wait for the end of the run, a signal, or console input; returns how
 * many of pfd to look at. Work that waits on the guest (room for input,
 * the power-off line) is retried every RETRY_MS.
 */
static nfds_t wait_events(struct vmm *m, struct supervisor *s,
			  struct pollfd pfd[3])
{
	bool room = s->stdin_open && serial_rx_space(&m->dev.serial);
	nfds_t nfds = room ? 3 : 2;
	long t = -1, left;

	pfd[0] = (struct pollfd){ .fd = m->stop.efd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = m->sfd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	if (s->poweroff_pending || (s->stdin_open && !room))
		t = RETRY_MS;
	if (s->signo) {
		left = ms_until(&s->deadline);
		left = left < 0 ? 0 : left;
		t = (t < 0 || left < t) ? left : t;
	}
	if (poll(pfd, nfds, t) < 0 && errno != EINTR) {
		pr_err("poll: %s", strerror(errno));
		stop_request(&m->stop, STOP_ERROR, 0);
	}
	return nfds;
}

static void supervise(struct vmm *m)
{
	struct supervisor s = { .stdin_open = !m->opts.console };
	struct pollfd pfd[3];
	nfds_t nfds;

	for (;;) {
		nfds = wait_events(m, &s, pfd);
		if (stop_requested(&m->stop))
			return;
		if (pfd[1].revents & POLLIN)
			on_signal(m, &s);
		if (nfds == 3 && pfd[2].revents)
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
	stop_vcpus(m);
	report_stuck_vcpus(m);
	report_console(m);
	for (i = 0; i < m->nr_vcpus; i++)
		vcpu_destroy(&m->vcpu[i]);
	devices_close(&m->dev);
	boot_release(&m->boot);
	vm_close(&m->vm);
	opts_release(&m->opts);
}

static int run(struct vmm *m)
{
	char why[WHY_MAX];
	int err, status;

	m->vm.fd = m->vm.kvm_fd = -1;
	if (stop_init(&m->stop) || setup_signals(m))
		die(EXIT_SETUP, "signals: %s", strerror(errno));
	check_inputs(m);
	if (m->opts.dry_run) {
		print_plan(m);
		teardown(m);
		return 0;
	}
	err = build_vm(m, why, sizeof(why));
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
	fputs("\nThe guest agent:\n", stdout);
	fputs(cli_agent_usage, stdout);
}

int main(int argc, char *argv[])
{
	char why[WHY_MAX];

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
	if (strcmp(argv[1], "run"))
		die(EXIT_SETUP, "%s: unknown command (see 'agentbox --help')",
		    argv[1]);
	if (opts_parse(&vmm.opts, argc - 2, argv + 2, why, sizeof(why))) {
		opts_release(&vmm.opts);
		die(EXIT_SETUP, "%s", why);
	}
	if (vmm.opts.help) {
		usage();
		return 0;
	}
	boottimer_mark(&vmm.bt, "options");
	return run(&vmm);
}
