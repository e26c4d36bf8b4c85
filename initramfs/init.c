/*
 * agentbox init: PID 1 of a sandbox.
 *
 * It mounts the read-only rootfs under a writable overlay, switches into it,
 * delegates the cgroup v2 controllers, then starts dockerd on a unix socket
 * and keeps it running until someone asks the sandbox to power off. After the
 * switch into the rootfs there is no way back, so from then on PID 1 never
 * exits: anything it cannot recover from is reported on the console and the
 * VM is powered off with a distinct status.
 *
 * It also keeps the guest agent (agentboxd, packed in the initramfs and run
 * from a file descriptor opened before the switch) running, restarting it
 * with the same backoff, and tells it when dockerd is ready through
 * DOCKERD_READY_FILE.
 *
 * The host can ask for a clean shutdown without ACPI by typing the line
 * "agentbox:poweroff" on the console, which nothing but the init reads.
 *
 * Configured from the kernel command line (dotted parameters never reach
 * init's argv or environment, so they are read from /proc/cmdline):
 *   agentbox.docker=0|1        start dockerd (default 1)
 *   agentbox.root=DEV          read-only rootfs (default /dev/vda)
 *   agentbox.scratch=DEV       ext4 disk for the writable layer (default tmpfs)
 *   agentbox.job=DEV           ext4 disk whose /run script runs once dockerd
 *                              is ready; its exit status powers off the VM
 *   agentbox.hostname=NAME     (default "agentbox")
 *   agentbox.boottimer=ADDR    guest-physical MMIO byte written at each phase
 *   agentbox.profile=0|1|init  once booted (dockerd ready, or at once without
 *                              it; with "init", as soon as /init runs), print
 *                              the kernel log on the console and power off:
 *                              the end of a tools/boot-profile run
 *   agentbox.workload_mem=SIZE     memory.max of the workload cgroup (256M,
 *                                  2G; a bare number is MiB)
 *   agentbox.workload_pids=N       its pids.max
 *   agentbox.workload_cpus=X       its CPU quota in CPUs (1.5)
 *                              (defaults from the guest's size: workload.h)
 *   agentbox.qga=0|1           start QEMU's guest agent (qemu-ga, from the
 *                              rootfs) on the virtio-serial port QEMU names
 *                              org.qemu.guest_agent.0 (default 0): the peer
 *                              agentboxd is benchmarked against
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#include "agentbox-abi.h"
#include "workload.h"

#define DOCKER_SOCK "/run/docker.sock"
#define DOCKERD_LOG "/run/dockerd.log"
#define AGENTD_PATH "/agentboxd"
#define AGENTD_LOG "/run/agentboxd.log"
#define CGROUP_ROOT "/sys/fs/cgroup"
#define RW_LAYER "/mnt/rw"
#define NEW_ROOT "/newroot"
#define DOCKERD_STOP_TIMEOUT_MS 20000
#define KILL_GRACE_MS 2000
#define RESTART_BACKOFF_MAX_MS 30000
#define CONSOLE_POWEROFF "agentbox:poweroff"
/* A dockerd that stayed up this long was healthy; restart it at once. */
#define HEALTHY_RUN_MS 30000
/* syslog(2) actions, which musl's <sys/klog.h> does not name. */
#define KLOG_READ_ALL 3
#define KLOG_CONSOLE_OFF 6
#define KLOG_CONSOLE_ON 7
#define KLOG_SIZE_BUFFER 10
/* How long a disk named on the command line may take to appear. */
#define DEVICE_WAIT_MS 5000
/* How soon a refused or failed readiness ping is tried again. */
#define READY_PROBE_RETRY_MS 100

enum profile_end {
	PROFILE_OFF,
	PROFILE_AT_INIT,
	PROFILE_WHEN_BOOTED,
};

struct config {
	bool docker;
	const char *root;
	const char *scratch;
	const char *job;
	const char *hostname;
	unsigned long boottimer;
	enum profile_end profile;
	/* 0: derived from the guest's size once it is known. */
	uint64_t workload_mem;
	uint64_t workload_pids;
	unsigned int workload_cpus;
	bool qga;
};

struct child {
	pid_t pid;
	int64_t started_ms;
};

struct console_reader {
	char line[64];
	size_t len;
	bool closed;
};

struct supervisor {
	struct console_reader console;
	struct child dockerd;
	struct child agentd;
	int64_t agentd_restart_at_ms;
	int64_t agentd_backoff_ms;
	struct child job;
	bool dockerd_ready;
	int ready_probe_fd;
	int run_watch_fd;
	int64_t probe_at_ms;
	bool job_started;
	bool stopping;
	int exit_status;
	int64_t restart_at_ms;
	int64_t backoff_ms;
};

static struct config cfg = {
	.docker = true,
	.root = "/dev/vda",
	.hostname = "agentbox",
};

static volatile uint8_t *boottimer_reg;
static int kmsg_fd = -1;
/* The agent binary stays in the initramfs, out of sight after the switch. */
static int agentd_fd = -1;

static const char *const child_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TERM=linux",
	NULL,
};

static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	int saved_errno = errno;
	char line[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line keeps our lines whole amid dockerd's output. */
	if (write(STDERR_FILENO, "agentbox: ", 10) >= 0)
		(void)!write(STDERR_FILENO, line, len);
	errno = saved_errno;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The kernel log gets each phase too, at debug level so the console shows it
 * once: there it shares the printk clock with initcall_debug, and the TSC,
 * which counts from CPU reset, tells a profiler how long the firmware or
 * loader took before the kernel's clock started (tools/boot-profile).
 */
static __attribute__((format(printf, 1, 2))) void kmsg_note(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int len;

	if (kmsg_fd < 0)
		kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg_fd < 0)
		return;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len > 0 && len < (int)sizeof(line))
		(void)!write(kmsg_fd, line, len);
}

static void mark_phase(enum boot_phase phase)
{
	struct timespec ts;

	kmsg_note("<7>agentbox: phase=%s tsc=%llu\n", boot_phase_name(phase),
		  (unsigned long long)__builtin_ia32_rdtsc());
	clock_gettime(CLOCK_BOOTTIME, &ts);
	say("phase=%s t=%lld.%06ld", boot_phase_name(phase), (long long)ts.tv_sec,
	    ts.tv_nsec / 1000);
	if (boottimer_reg)
		*boottimer_reg = phase;
}

static int map_boottimer(unsigned long addr)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long base = addr & ~(unsigned long)(page - 1);
	void *map;
	int fd;

	fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	map = mmap(NULL, page, PROT_WRITE, MAP_SHARED, fd, base);
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	boottimer_reg = (volatile uint8_t *)map + (addr - base);
	return 0;
}

/*
 * The VMM (agentbox, or QEMU's isa-debug-exit) turns a write to this port
 * into its own exit status. Without ACPI there is no other power-off path,
 * so a VMM without the port sees a reset instead: with reboot=t and QEMU's
 * -no-reboot that still ends the VM.
 */
static __attribute__((noreturn)) void power_off(int status)
{
	mark_phase(PHASE_POWEROFF);
	say("power off, status %d", status);
	sync();
	/*
	 * A console write returns once the bytes are in the tty's buffer, and
	 * the exit port ends the VM at once: wait until the UART has sent
	 * them, or the last lines (a failure's reason above all) are lost.
	 */
	tcdrain(STDERR_FILENO);
	if (ioperm(EXIT_PORT, 1, 1) == 0)
		outb((uint8_t)status, EXIT_PORT);
	else
		say("ioperm: %s; resetting instead", strerror(errno));
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static __attribute__((noreturn, format(printf, 1, 2))) void fatal(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("fatal: %s", msg);
	power_off(EXIT_INIT_FAILED);
}

static bool parse_bool(const char *val)
{
	return strcmp(val, "0") != 0 && strcmp(val, "no") != 0 && strcmp(val, "off") != 0;
}

/*
 * A bad limit is the host's mistake, not the sandbox's: say so and use the
 * default, also over an earlier good value of the same parameter.
 */
static bool apply_workload_param(const char *param, const char *val)
{
	const char *rule = NULL;
	unsigned int cpus;
	uint64_t v;

	if (strcmp(param, "workload_mem") == 0) {
		if (workload_parse_mem(val, &v)) {
			v = 0;
			rule = WORKLOAD_MEM_RULE;
		}
		cfg.workload_mem = v;
	} else if (strcmp(param, "workload_pids") == 0) {
		if (workload_parse_pids(val, &v)) {
			v = 0;
			rule = WORKLOAD_PIDS_RULE;
		}
		cfg.workload_pids = v;
	} else if (strcmp(param, "workload_cpus") == 0) {
		if (workload_parse_cpus(val, &cpus)) {
			cpus = 0;
			rule = WORKLOAD_CPUS_RULE;
		}
		cfg.workload_cpus = cpus;
	} else {
		return false;
	}
	if (rule)
		say("agentbox.%s=%s: %s; using the default", param, val, rule);
	return true;
}

static void apply_param(char *param)
{
	char *val = strchr(param, '=');

	if (strncmp(param, "agentbox.", 9) != 0)
		return;
	if (!val) {
		say("ignoring agentbox parameter without a value: %s", param);
		return;
	}
	*val++ = '\0';
	param += 9;
	if (strcmp(param, "docker") == 0)
		cfg.docker = parse_bool(val);
	else if (strcmp(param, "root") == 0)
		cfg.root = val;
	else if (strcmp(param, "scratch") == 0)
		cfg.scratch = val;
	else if (strcmp(param, "job") == 0)
		cfg.job = val;
	else if (strcmp(param, "hostname") == 0)
		cfg.hostname = val;
	else if (strcmp(param, "boottimer") == 0)
		cfg.boottimer = strtoul(val, NULL, 0);
	else if (strcmp(param, "qga") == 0)
		cfg.qga = parse_bool(val);
	else if (strcmp(param, "profile") == 0)
		cfg.profile = strcmp(val, "init") == 0 ? PROFILE_AT_INIT :
			      parse_bool(val) ? PROFILE_WHEN_BOOTED : PROFILE_OFF;
	else if (!apply_workload_param(param, val))
		say("ignoring unknown parameter agentbox.%s", param);
}

static int read_cmdline(void)
{
	static char cmdline[4096];
	char *param, *save;
	ssize_t len;
	int fd;

	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	if (len < 0)
		return -errno;
	cmdline[len] = '\0';
	for (param = strtok_r(cmdline, " \n", &save); param;
	     param = strtok_r(NULL, " \n", &save))
		apply_param(param);
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char saved, *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		saved = *p;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (!saved)
			return 0;
	}
}

static int mount_at(const char *src, const char *target, const char *type,
		    unsigned long flags, const char *data)
{
	int err = mkdir_p(target, 0755);

	if (err) {
		say("mkdir %s: %s", target, strerror(-err));
		return err;
	}
	if (mount(src, target, type, flags, data) < 0) {
		err = -errno;
		say("mount %s on %s (%s): %s", src, target, type ? type : "bind",
		    strerror(errno));
		return err;
	}
	return 0;
}

/*
 * Some disks appear after /init starts: libnvdimm registers pmem devices
 * from its own async domain, which the kernel does not wait for. Like the
 * kernel's rootwait, but bounded, so a wrong name still fails fast.
 */
static void wait_for_device(const char *dev)
{
	const struct timespec one_ms = { .tv_nsec = 1000000 };
	int waited_ms;

	for (waited_ms = 0; waited_ms < DEVICE_WAIT_MS; waited_ms++) {
		if (access(dev, F_OK) == 0)
			return;
		nanosleep(&one_ms, NULL);
	}
}

static int mount_kernel_filesystems(void)
{
	const unsigned long nosuid = MS_NOSUID | MS_NOEXEC | MS_NODEV;

	return mount_at("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") ?:
	       mount_at("proc", "/proc", "proc", nosuid, NULL) ?:
	       mount_at("sysfs", "/sys", "sysfs", nosuid, NULL);
}

/*
 * The writable layer lives on the scratch disk when there is one, else in
 * RAM. /var/lib/docker cannot sit on the overlay itself: overlay2 refuses an
 * overlayfs backing store, so it gets its own directory on the same layer.
 */
static int mount_overlay_root(void)
{
	int err;

	wait_for_device(cfg.root);
	err = mount_at(cfg.root, "/mnt/lower", "ext4", MS_RDONLY, NULL);
	if (err)
		return err;
	if (cfg.scratch) {
		wait_for_device(cfg.scratch);
		err = mount_at(cfg.scratch, RW_LAYER, "ext4", MS_NOATIME, NULL);
	} else {
		err = mount_at("rw", RW_LAYER, "tmpfs", 0, "mode=0755");
	}
	if (err)
		return err;
	err = mkdir_p(RW_LAYER "/upper", 0755) ?: mkdir_p(RW_LAYER "/work", 0755) ?:
	      mkdir_p(RW_LAYER "/docker", 0711);
	if (err) {
		say("creating the writable layer: %s", strerror(-err));
		return err;
	}
	return mount_at("overlay", NEW_ROOT, "overlay", 0,
			"lowerdir=/mnt/lower,upperdir=" RW_LAYER "/upper,workdir=" RW_LAYER "/work") ?:
	       mount_at(RW_LAYER "/docker", NEW_ROOT "/var/lib/docker", NULL, MS_BIND, NULL);
}

static int move_mount(const char *from, const char *to)
{
	return mount_at(from, to, NULL, MS_MOVE, NULL);
}

/* initramfs cannot be pivot_root'ed away; move the new root over it instead. */
static int switch_root(void)
{
	int err;

	err = move_mount("/dev", NEW_ROOT "/dev") ?:
	      move_mount("/proc", NEW_ROOT "/proc") ?:
	      move_mount("/sys", NEW_ROOT "/sys");
	if (err)
		return err;
	if (chdir(NEW_ROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0) {
		err = -errno;
		say("switching to the new root: %s", strerror(errno));
		return err;
	}
	return 0;
}

static int mount_runtime_filesystems(void)
{
	const unsigned long nosuid = MS_NOSUID | MS_NODEV;
	int err;

	err = mount_at("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		       "gid=5,mode=0620,ptmxmode=0666") ?:
	      mount_at("shm", "/dev/shm", "tmpfs", nosuid, "mode=1777") ?:
	      mount_at("run", "/run", "tmpfs", nosuid, "mode=0755") ?:
	      mount_at("tmp", "/tmp", "tmpfs", nosuid, "mode=1777") ?:
	      mount_at("cgroup2", CGROUP_ROOT, "cgroup2", nosuid | MS_NOEXEC,
		       "nsdelegate");
	if (err)
		return err;
	/* Shells need these for <(...) and /dev/stdin; devtmpfs lacks them. */
	(void)!symlink("/proc/self/fd", "/dev/fd");
	(void)!symlink("/proc/self/fd/0", "/dev/stdin");
	(void)!symlink("/proc/self/fd/1", "/dev/stdout");
	(void)!symlink("/proc/self/fd/2", "/dev/stderr");
	return 0;
}

static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

static int join_cgroup(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), CGROUP_ROOT "/%s", name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	strncat(path, "/cgroup.procs", sizeof(path) - strlen(path) - 1);
	return write_file(path, "0");
}

static int enable_controllers(const char *dir)
{
	static const char *const controllers[] = { "cpu", "cpuset", "io", "memory", "pids" };
	char enable[16], path[128];
	size_t i;
	int err;

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	for (i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++) {
		snprintf(enable, sizeof(enable), "+%s", controllers[i]);
		err = write_file(path, enable);
		if (err) {
			say("enabling the %s cgroup controller in %s: %s", controllers[i],
			    dir, strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * cgroup v2's no-internal-process rule: the root may only hand controllers
 * to its children once no process of ours sits in it, so init moves into a
 * leaf first.
 */
static int delegate_cgroups(void)
{
	int err;

	err = join_cgroup("init.scope");
	if (err) {
		say("moving init to " CGROUP_ROOT "/init.scope: %s", strerror(-err));
		return err;
	}
	return enable_controllers(CGROUP_ROOT);
}

static uint64_t read_u64(const char *path, uint64_t fallback)
{
	char buf[32] = "";
	const char *p = buf;
	uint64_t v;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fallback;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || workload_parse_u64(&p, UINT64_MAX, &v))
		return fallback;
	return v;
}

/* What was not asked for on the command line follows the guest's size. */
static void default_workload_limits(void)
{
	uint64_t pid_max, threads_max;
	struct sysinfo si;
	long ncpu;

	/* Never 0 for memory.max, which would leave the workload nothing. */
	if (!cfg.workload_mem)
		cfg.workload_mem = sysinfo(&si) == 0 ?
				   workload_default_mem((uint64_t)si.totalram * si.mem_unit) :
				   UINT64_MAX;
	if (!cfg.workload_pids) {
		pid_max = read_u64("/proc/sys/kernel/pid_max", WORKLOAD_PIDS_MAX);
		threads_max = read_u64("/proc/sys/kernel/threads-max", WORKLOAD_PIDS_MAX);
		cfg.workload_pids = workload_default_pids(pid_max < threads_max ?
							  pid_max : threads_max);
	}
	if (!cfg.workload_cpus) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.workload_cpus = workload_default_cpus(ncpu > 0 ? ncpu : 1);
	}
}

static __attribute__((format(printf, 2, 3))) int write_limit(const char *file,
								const char *fmt, ...)
{
	char path[128], value[48];
	va_list ap;
	int err;

	snprintf(path, sizeof(path), WORKLOAD_CGROUP_DIR "/%s", file);
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	err = write_file(path, value);
	if (err)
		say("%s %s: %s", path, value, strerror(-err));
	return err;
}

/*
 * The daemons stay outside the workload: whatever the workload does with
 * memory, processes or CPU, dockerd and the agent keep theirs. No swap, so
 * a workload over its memory meets the OOM killer inside its own cgroup.
 * A limit that cannot be set leaves the sandbox usable, and says so.
 */
static int limit_workload(void)
{
	unsigned int quota;
	int err;

	default_workload_limits();
	if (mkdir(WORKLOAD_CGROUP_DIR, 0755) < 0 && errno != EEXIST) {
		err = -errno;
		say(WORKLOAD_CGROUP_DIR ": %s", strerror(errno));
		return err;
	}
	quota = cfg.workload_cpus * (WORKLOAD_CPU_PERIOD_US / WORKLOAD_CPU_SCALE);
	write_limit("memory.max", "%llu", (unsigned long long)cfg.workload_mem);
	if (access(WORKLOAD_CGROUP_DIR "/memory.swap.max", F_OK) == 0)
		write_limit("memory.swap.max", "0");
	write_limit("pids.max", "%llu", (unsigned long long)cfg.workload_pids);
	write_limit("cpu.max", "%u %u", quota, WORKLOAD_CPU_PERIOD_US);
	say("workload limits: memory %lluM, %llu processes, %u.%02u CPUs",
	    (unsigned long long)(cfg.workload_mem >> 20),
	    (unsigned long long)cfg.workload_pids,
	    cfg.workload_cpus / WORKLOAD_CPU_SCALE, cfg.workload_cpus % WORKLOAD_CPU_SCALE);
	/* runc enables these for its containers itself; the agent's need them. */
	return enable_controllers(WORKLOAD_CGROUP_DIR);
}

static int bring_up_loopback(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int set_identity(void)
{
	int err;

	if (sethostname(cfg.hostname, strlen(cfg.hostname)) < 0) {
		say("sethostname %s: %s", cfg.hostname, strerror(errno));
		return -errno;
	}
	err = bring_up_loopback();
	if (err)
		say("bringing up lo: %s", strerror(-err));
	return err;
}

static void set_oom_score_adj(const char *value)
{
	int err = write_file("/proc/self/oom_score_adj", value);

	if (err)
		say("oom_score_adj %s: %s", value, strerror(-err));
}

/* Point stdout and stderr at LOG; the console stays for our own lines. */
static void redirect_output(const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0) {
		say("%s: %s", log, strerror(errno));
		return;
	}
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/*
 * EXEC_FD >= 0 runs that open binary instead of argv[0]. OOM_ADJ is the
 * child's oom_score_adj: "-1000" for the daemons the sandbox cannot lose.
 */
static pid_t spawn(const char *const argv[], const char *cgroup, const char *log,
		   int exec_fd, const char *oom_adj)
{
	int err, null_fd;
	sigset_t all;
	pid_t pid;

	pid = fork();
	if (pid != 0)
		return pid < 0 ? -errno : pid;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	setsid();
	/* The console's input belongs to the init's control line. */
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd > STDIN_FILENO) {
		dup2(null_fd, STDIN_FILENO);
		close(null_fd);
	}
	if (log)
		redirect_output(log);
	err = join_cgroup(cgroup);
	if (err)
		say("%s: joining cgroup %s: %s", argv[0], cgroup, strerror(-err));
	set_oom_score_adj(oom_adj);
	if (exec_fd >= 0)
		fexecve(exec_fd, (char *const *)argv, (char *const *)child_env);
	else
		execve(argv[0], (char *const *)argv, (char *const *)child_env);
	say("exec %s: %s", argv[0], strerror(errno));
	_exit(127);
}

static void start_dockerd(struct supervisor *sv)
{
	static const char *const argv[] = {
		"/usr/sbin/dockerd",
		"--host=unix://" DOCKER_SOCK,
		"--data-root=/var/lib/docker",
		"--exec-root=/run/docker",
		"--pidfile=/run/docker.pid",
		"--storage-driver=overlay2",
		/* Containers go under the workload's limits (cgroupfs driver). */
		"--cgroup-parent=" WORKLOAD_CGROUP,
		"--log-level=warn",
		NULL,
	};
	pid_t pid;

	mark_phase(PHASE_DOCKERD_START);
	pid = spawn(argv, "dockerd.scope", DOCKERD_LOG, -1, "-1000");
	if (pid < 0) {
		say("starting dockerd: %s", strerror(-pid));
		sv->restart_at_ms = now_ms() + sv->backoff_ms;
		return;
	}
	sv->dockerd = (struct child){ .pid = pid, .started_ms = now_ms() };
	sv->dockerd_ready = false;
	sv->restart_at_ms = 0;
}

/*
 * Ready means the API answers, not merely that the socket exists. dockerd
 * creates its socket early but serves it only once its API is up, so one
 * ping left pending on the socket is answered at exactly that moment, and
 * inotify on /run says when the socket appears: the ready mark comes with
 * no polling delay (which boot profiles and restore times would show).
 */
static int start_ready_probe(void)
{
	static const char ping[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
	struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = DOCKER_SOCK };
	int fd, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto close_socket;
	if (send(fd, ping, sizeof(ping) - 1, MSG_NOSIGNAL) != sizeof(ping) - 1)
		goto close_socket;
	return fd;

close_socket:
	err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

static bool ready_probe_answered(int fd)
{
	char reply[64] = "";

	if (read(fd, reply, sizeof(reply) - 1) <= 0)
		return false;
	return strncmp(reply, "HTTP/1.", 7) == 0 && strstr(reply, " 200 ");
}

static void stop_ready_probe(struct supervisor *sv, int64_t retry_in_ms)
{
	if (sv->ready_probe_fd >= 0)
		close(sv->ready_probe_fd);
	sv->ready_probe_fd = -1;
	sv->probe_at_ms = now_ms() + retry_in_ms;
}

static void set_ready_file(bool ready)
{
	int fd;

	if (!ready) {
		unlink(DOCKERD_READY_FILE);
		return;
	}
	mkdir_p(AGENTBOX_RUN_DIR, 0755);
	fd = open(DOCKERD_READY_FILE, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		say(DOCKERD_READY_FILE ": %s", strerror(errno));
	else
		close(fd);
}

static void ready_probe_event(struct supervisor *sv)
{
	if (ready_probe_answered(sv->ready_probe_fd)) {
		sv->dockerd_ready = true;
		set_ready_file(true);
		mark_phase(PHASE_DOCKERD_READY);
		stop_ready_probe(sv, 0);
	} else {
		stop_ready_probe(sv, READY_PROBE_RETRY_MS);
	}
}

static void watch_for_docker_socket(struct supervisor *sv)
{
	sv->run_watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sv->run_watch_fd < 0 ||
	    inotify_add_watch(sv->run_watch_fd, "/run", IN_CREATE | IN_MOVED_TO) < 0)
		say("inotify on /run: %s; polling for dockerd instead", strerror(errno));
}

static void docker_socket_event(struct supervisor *sv)
{
	char events[4096];

	while (read(sv->run_watch_fd, events, sizeof(events)) > 0)
		;
	if (sv->ready_probe_fd < 0)
		sv->probe_at_ms = 0;
}

/*
 * The end of a boot profile. The profiler reads the kernel log from the
 * console rather than from a job disk, because mounting one would make the
 * boot wait on the host's disk, which icount turns into random guest time.
 */
static void print_kernel_log(void)
{
	int size = klogctl(KLOG_SIZE_BUFFER, NULL, 0);
	char *log;
	int len;

	log = size > 0 ? malloc(size) : NULL;
	len = log ? klogctl(KLOG_READ_ALL, log, size) : -1;
	if (len < 0) {
		say("cannot read the kernel log: %s", strerror(errno));
		free(log);
		return;
	}
	/*
	 * A kernel warning printed meanwhile would land in the middle of a
	 * line of the dump (the console is one stream); it is in the log
	 * buffer anyway, so the console keeps quiet until the dump is out.
	 */
	klogctl(KLOG_CONSOLE_OFF, NULL, 0);
	say("kernel log begin");
	(void)!write(STDERR_FILENO, log, len);
	say("kernel log end");
	klogctl(KLOG_CONSOLE_ON, NULL, 0);
	free(log);
}

static int mount_job_disk(void)
{
	wait_for_device(cfg.job);
	return mount_at(cfg.job, "/job", "ext4", MS_RDONLY | MS_NODEV, NULL);
}

static void start_job(struct supervisor *sv)
{
	static const char *const argv[] = { "/bin/sh", "/job/run", NULL };
	pid_t pid;

	sv->job_started = true;
	if (chdir("/job") < 0)
		say("chdir /job: %s", strerror(errno));
	pid = spawn(argv, "job.scope", NULL, -1, "0");
	(void)!chdir("/");
	if (pid < 0) {
		say("starting the job: %s", strerror(-pid));
		sv->exit_status = EXIT_INIT_FAILED;
		sv->stopping = true;
		return;
	}
	sv->job = (struct child){ .pid = pid, .started_ms = now_ms() };
	say("job started");
}

static void describe_exit(const char *what, int status)
{
	if (WIFEXITED(status))
		say("%s exited with status %d", what, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		say("%s killed by signal %d (%s)", what, WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
}

static void dockerd_exited(struct supervisor *sv, int status)
{
	int64_t ran = now_ms() - sv->dockerd.started_ms;

	describe_exit("dockerd", status);
	if (!sv->stopping)
		say("its log is " DOCKERD_LOG);
	sv->dockerd.pid = 0;
	sv->dockerd_ready = false;
	set_ready_file(false);
	stop_ready_probe(sv, 0);
	if (sv->stopping)
		return;
	/* Back off only when it keeps dying young. */
	if (ran >= HEALTHY_RUN_MS)
		sv->backoff_ms = 1000;
	say("restarting dockerd in %lld ms", (long long)sv->backoff_ms);
	sv->restart_at_ms = now_ms() + sv->backoff_ms;
	sv->backoff_ms *= 2;
	if (sv->backoff_ms > RESTART_BACKOFF_MAX_MS)
		sv->backoff_ms = RESTART_BACKOFF_MAX_MS;
}

static void start_agentd(struct supervisor *sv)
{
	static const char *const argv[] = { "agentboxd", NULL };
	pid_t pid;

	sv->agentd_restart_at_ms = 0;
	pid = spawn(argv, "agentboxd.scope", AGENTD_LOG, agentd_fd, "-1000");
	if (pid < 0) {
		say("starting agentboxd: %s", strerror(-pid));
		sv->agentd_restart_at_ms = now_ms() + sv->agentd_backoff_ms;
		return;
	}
	sv->agentd = (struct child){ .pid = pid, .started_ms = now_ms() };
}

/* The same policy as dockerd's: back off only when it keeps dying young. */
static void agentd_exited(struct supervisor *sv, int status)
{
	int64_t ran = now_ms() - sv->agentd.started_ms;

	describe_exit("agentboxd", status);
	sv->agentd.pid = 0;
	if (sv->stopping)
		return;
	if (ran >= HEALTHY_RUN_MS)
		sv->agentd_backoff_ms = 1000;
	say("restarting agentboxd in %lld ms; its log is " AGENTD_LOG,
	    (long long)sv->agentd_backoff_ms);
	sv->agentd_restart_at_ms = now_ms() + sv->agentd_backoff_ms;
	sv->agentd_backoff_ms *= 2;
	if (sv->agentd_backoff_ms > RESTART_BACKOFF_MAX_MS)
		sv->agentd_backoff_ms = RESTART_BACKOFF_MAX_MS;
}

static void job_exited(struct supervisor *sv, int status)
{
	describe_exit("job", status);
	sv->job.pid = 0;
	sv->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	sv->stopping = true;
}

static void reap_children(struct supervisor *sv)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == sv->dockerd.pid)
			dockerd_exited(sv, status);
		else if (pid == sv->job.pid)
			job_exited(sv, status);
		else if (pid == sv->agentd.pid)
			agentd_exited(sv, status);
	}
}

static int handle_signal(struct supervisor *sv, int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return -errno;
	switch (si.ssi_signo) {
	case SIGCHLD:
		reap_children(sv);
		break;
	/* busybox poweroff/halt/reboot send USR2/USR1/TERM; all end a sandbox. */
	case SIGTERM:
	case SIGINT:
	case SIGUSR1:
	case SIGUSR2:
	case SIGPWR:
		say("received %s, shutting down", strsignal(si.ssi_signo));
		sv->stopping = true;
		break;
	}
	return 0;
}

/* Line mode without echo: the host's control line is not printed back. */
static void quiet_console(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &t) < 0)
		return;
	t.c_lflag &= ~(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static void console_byte(struct supervisor *sv, char c)
{
	struct console_reader *con = &sv->console;

	if (c != '\n' && c != '\r') {
		if (con->len < sizeof(con->line) - 1)
			con->line[con->len++] = c;
		return;
	}
	con->line[con->len] = '\0';
	if (strcmp(con->line, CONSOLE_POWEROFF) == 0) {
		say("poweroff requested on the console, shutting down");
		sv->stopping = true;
	}
	con->len = 0;
}

static void read_console(struct supervisor *sv)
{
	char buf[128];
	ssize_t n, i;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			sv->console.closed = true;
		return;
	}
	for (i = 0; i < n; i++)
		console_byte(sv, buf[i]);
}

static int64_t earliest(int64_t a, int64_t b)
{
	if (!a)
		return b;
	return b && b < a ? b : a;
}

static int poll_timeout(const struct supervisor *sv)
{
	int64_t wait, at;

	if (sv->dockerd.pid && !sv->dockerd_ready && sv->ready_probe_fd < 0) {
		wait = sv->probe_at_ms - now_ms();
		return wait > 0 ? (int)wait : 0;
	}
	at = earliest(sv->restart_at_ms, sv->agentd_restart_at_ms);
	if (at) {
		wait = at - now_ms();
		return wait > 0 ? (int)wait : 0;
	}
	return -1;
}

static void tick(struct supervisor *sv)
{
	if (agentd_fd >= 0 && !sv->agentd.pid && sv->agentd_restart_at_ms &&
	    now_ms() >= sv->agentd_restart_at_ms)
		start_agentd(sv);
	if (cfg.docker && !sv->dockerd.pid && sv->restart_at_ms &&
	    now_ms() >= sv->restart_at_ms)
		start_dockerd(sv);
	if (sv->dockerd.pid && !sv->dockerd_ready && sv->ready_probe_fd < 0 &&
	    now_ms() >= sv->probe_at_ms) {
		sv->ready_probe_fd = start_ready_probe();
		/*
		 * Refused: bound but not yet listening, a matter of
		 * microseconds. Missing: inotify calls when it appears.
		 */
		if (sv->ready_probe_fd == -ECONNREFUSED)
			stop_ready_probe(sv, 1);
		else if (sv->ready_probe_fd < 0)
			stop_ready_probe(sv, READY_PROBE_RETRY_MS);
	}
	if (cfg.job && !sv->job_started && (sv->dockerd_ready || !cfg.docker))
		start_job(sv);
	if (cfg.profile == PROFILE_WHEN_BOOTED && !sv->stopping &&
	    (sv->dockerd_ready || !cfg.docker)) {
		print_kernel_log();
		sv->stopping = true;
	}
}

static void wait_for_dockerd(struct supervisor *sv, int sfd, int64_t deadline)
{
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };

	while (sv->dockerd.pid && now_ms() < deadline) {
		if (poll(&pfd, 1, 100) > 0)
			handle_signal(sv, sfd);
	}
}

static void kill_everything(int sig)
{
	kill(-1, sig);
}

static void reap_all_for(int64_t ms)
{
	int64_t deadline = now_ms() + ms;

	while (now_ms() < deadline) {
		if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			return;
		usleep(20000);
	}
}

/* dockerd first, so it can stop its containers cleanly; then the rest. */
static __attribute__((noreturn)) void shut_down(struct supervisor *sv, int sfd)
{
	if (sv->dockerd.pid) {
		say("stopping dockerd");
		kill(sv->dockerd.pid, SIGTERM);
		wait_for_dockerd(sv, sfd, now_ms() + DOCKERD_STOP_TIMEOUT_MS);
		if (sv->dockerd.pid)
			say("dockerd did not stop within %d ms", DOCKERD_STOP_TIMEOUT_MS);
	}
	kill_everything(SIGTERM);
	reap_all_for(KILL_GRACE_MS);
	kill_everything(SIGKILL);
	reap_all_for(KILL_GRACE_MS);
	/* power_off() syncs; ext4's journal covers the scratch disk from there. */
	power_off(sv->exit_status);
}

#define QGA_PORT_NAME "org.qemu.guest_agent.0"
#define QGA_LOG "/run/qemu-ga.log"

static bool qga_port_named(const char *port)
{
	char path[300], name[sizeof(QGA_PORT_NAME) + 1];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", port);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, name, sizeof(name));
	close(fd);
	/* The name and a newline: sizeof counts one byte for either. */
	return n == sizeof(QGA_PORT_NAME) && !memcmp(name, QGA_PORT_NAME "\n", n);
}

/* No udev makes /dev/virtio-ports/NAME: the port is found by its name. */
static int find_qga_port(char *dev, size_t cap)
{
	DIR *dir = opendir("/sys/class/virtio-ports");
	struct dirent *d;
	int err = -ENOENT;

	if (!dir)
		return -ENOENT;
	while ((d = readdir(dir))) {
		if (d->d_name[0] != '.' && qga_port_named(d->d_name)) {
			snprintf(dev, cap, "/dev/%s", d->d_name);
			err = 0;
			break;
		}
	}
	closedir(dir);
	return err;
}

/*
 * Started once, unsupervised: it only serves benchmarks. Ports show up
 * only once the host has announced them on the control queue, after the
 * device probe, so the port is waited for like a disk.
 */
static void start_qga(void)
{
	const struct timespec ten_ms = { .tv_nsec = 10000000 };
	char dev[300];
	const char *argv[] = { "/usr/sbin/qemu-ga", "--method=virtio-serial",
			       "--path", dev, "--statedir=/run", NULL };
	int waited_ms, err;
	pid_t pid;

	for (waited_ms = 0; waited_ms < DEVICE_WAIT_MS; waited_ms += 10) {
		err = find_qga_port(dev, sizeof(dev));
		if (!err)
			break;
		nanosleep(&ten_ms, NULL);
	}
	if (err) {
		say("agentbox.qga=1 but no " QGA_PORT_NAME " port; no qemu-ga");
		return;
	}
	pid = spawn(argv, "qemu-ga.scope", QGA_LOG, -1, "-1000");
	if (pid < 0)
		say("starting qemu-ga: %s", strerror(-pid));
	else
		say("qemu-ga started on %s; its log is " QGA_LOG, dev);
}

static __attribute__((noreturn)) void supervise(int sfd)
{
	struct supervisor sv = {
		.backoff_ms = 1000, .agentd_backoff_ms = 1000,
		.ready_probe_fd = -1, .run_watch_fd = -1,
	};
	struct pollfd pfd[4] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .events = POLLIN },
		{ .events = POLLIN },
	};

	quiet_console();
	if (cfg.qga)
		start_qga();
	if (agentd_fd >= 0)
		start_agentd(&sv);
	if (cfg.docker) {
		watch_for_docker_socket(&sv);
		start_dockerd(&sv);
	}
	for (;;) {
		tick(&sv);
		if (sv.stopping)
			shut_down(&sv, sfd);
		/* poll() skips negative fds: a closed console, no probe, no watch. */
		pfd[1].fd = sv.console.closed ? -1 : STDIN_FILENO;
		pfd[2].fd = sv.dockerd_ready ? -1 : sv.run_watch_fd;
		pfd[3].fd = sv.ready_probe_fd;
		if (poll(pfd, 4, poll_timeout(&sv)) <= 0)
			continue;
		if (pfd[0].revents)
			handle_signal(&sv, sfd);
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
			read_console(&sv);
		if (pfd[2].revents)
			docker_socket_event(&sv);
		if (pfd[3].revents && sv.ready_probe_fd >= 0)
			ready_probe_event(&sv);
	}
}

static int block_signals(void)
{
	sigset_t all;
	int sfd;

	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0)
		return -errno;
	sfd = signalfd(-1, &all, SFD_CLOEXEC);
	return sfd < 0 ? -errno : sfd;
}

int main(void)
{
	int sfd, err;

	if (getpid() != 1) {
		fprintf(stderr, "agentbox-init: must run as PID 1\n");
		return 2;
	}
	sfd = block_signals();
	if (sfd < 0)
		fatal("signalfd: %s", strerror(-sfd));
	/* Ctrl-Alt-Del and the like arrive as SIGINT instead of a hard reboot. */
	reboot(RB_DISABLE_CAD);
	umask(022);
	if (mount_kernel_filesystems())
		fatal("cannot mount /dev, /proc and /sys");
	if (read_cmdline())
		say("cannot read /proc/cmdline; using defaults");
	if (cfg.boottimer && map_boottimer(cfg.boottimer))
		say("boot timer at %#lx: %s", cfg.boottimer, strerror(errno));
	mark_phase(PHASE_INIT);
	if (cfg.profile == PROFILE_AT_INIT) {
		print_kernel_log();
		power_off(EXIT_POWEROFF);
	}
	set_oom_score_adj("-1000");
	agentd_fd = open(AGENTD_PATH, O_RDONLY | O_CLOEXEC);
	if (agentd_fd < 0)
		say(AGENTD_PATH ": %s; no guest agent", strerror(errno));

	if (mount_overlay_root() || switch_root())
		fatal("cannot mount the root filesystem from %s", cfg.root);
	if (mount_runtime_filesystems())
		fatal("cannot mount the runtime filesystems");
	mark_phase(PHASE_ROOTFS);
	if (delegate_cgroups())
		fatal("cannot delegate cgroup controllers");
	if (limit_workload())
		fatal("cannot create the workload cgroup " WORKLOAD_CGROUP_DIR);
	mark_phase(PHASE_CGROUPS);
	err = set_identity();
	if (err)
		fatal("cannot set up hostname and loopback");
	if (cfg.job && mount_job_disk())
		fatal("cannot mount the job disk %s", cfg.job);
	supervise(sfd);
}
