#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "mptable.h"
#include "options.h"
#include "workload.h"

const char opts_usage[] =
"usage: agentbox run --kernel FILE [--initrd FILE] [--disk FILE[,ro]]...\n"
"                    [--mem SIZE] [--cpus N] [--cmdline STR]\n"
"                    [--console stdio|FILE] [--vsock SOCK[,cid=N]]\n"
"                    [--net tap=NAME[,mac=M]]\n"
"                    [--control SOCK] [--snapshot-when-ready DIR]\n"
"                    [--jail DIR --uid N --gid N] [--no-seccomp]\n"
"                    [--workload-mem SIZE] [--workload-pids N]\n"
"                    [--workload-cpus X]\n"
"                    [--timings] [--dry-run]\n"
"\n"
"Boot a Linux microVM on /dev/kvm with a serial console, virtio-blk disks,\n"
"virtio-rng and optionally virtio-vsock and virtio-net.\n"
"\n"
"  --kernel FILE       ELF vmlinux, or bzImage with a 64-bit entry point\n"
"  --initrd FILE       initramfs, loaded high in RAM below 3 GiB\n"
"  --disk FILE[,ro]    virtio-blk disk: a regular file or a block device;\n"
"                      \",ro\" makes it read-only. Repeat for more disks;\n"
"                      the guest sees them as vda, vdb, ... in this order\n"
"  --mem SIZE          guest RAM with a K, M or G suffix, or MiB without\n"
"                      one (default 512M)\n"
"  --cpus N            number of vCPUs, 1-254 (default 1)\n"
"  --cmdline STR       appended to the kernel command line, after\n"
"                      \"console=ttyS0 reboot=t panic=-1 acpi=off\" and the\n"
"                      device arguments\n"
"  --console stdio|FILE  the serial console: our stdin and stdout (default),\n"
"                      or guest output written to FILE\n"
"  --vsock SOCK[,cid=N]  virtio-vsock with guest CID N (default 3). A host\n"
"                      client connects to the unix socket SOCK and writes\n"
"                      \"CONNECT <port>\\n\"; once the guest accepts it reads\n"
"                      \"OK <hostport>\\n\" and then the stream. The guest's\n"
"                      connections to CID 2 port P go to SOCK_P. SOCK is at\n"
"                      most 96 bytes; a stale socket there is replaced\n"
"  --net tap=NAME[,mac=M]  virtio-net on the existing tap interface NAME\n"
"                      (the caller creates it, addresses it and filters\n"
"                      it; see the README). M is the guest's MAC address,\n"
"                      like 02:00:00:00:00:01 (default: a random local\n"
"                      one). Without --net the guest has no network\n"
"  --control SOCK      listen on the unix socket SOCK for 'agentbox pause',\n"
"                      'resume', 'snapshot' and 'stop'\n"
"  --snapshot-when-ready DIR  boot, wait until the guest's dockerd is\n"
"                      ready, write a snapshot to DIR and exit 0: a warm\n"
"                      template for 'agentbox restore'\n"
"  --jail DIR          run in DIR as its root, like a chroot: open /dev/kvm,\n"
"                      enter a mount namespace whose root is DIR, then take\n"
"                      --uid N and --gid N (both needed, no supplementary\n"
"                      groups). Every other path given (kernel, initrd,\n"
"                      disks, sockets, console, snapshot directories) is\n"
"                      then inside DIR. Needs root. The environment is\n"
"                      cleared, inherited fds above 2 are closed, and\n"
"                      files written are limited to the size of the\n"
"                      guest's RAM or largest disk plus 64 MiB\n"
"  --no-seccomp        for debugging only: no system call filter. Without\n"
"                      it the VMM runs the guest under a seccomp allowlist\n"
"                      and a forbidden call ends it with status 121\n"
"  --workload-mem SIZE  memory for the guest's workload (its containers and\n"
"                      agent commands together), at least 16M and at most\n"
"                      --mem; the rest stays with its daemons. Default: RAM\n"
"                      less 192M and a sixteenth\n"
"  --workload-pids N   processes and threads for the workload, 16-4194304\n"
"                      (default: the kernel's limit less 1024)\n"
"  --workload-cpus X   the workload's CPU time in CPUs, 0.01 up to --cpus,\n"
"                      like 1.5 (default: 0.9 of each vCPU)\n"
"  --timings           at exit, print how long each start-up step took\n"
"  --dry-run           check every input, print the kernel command line and\n"
"                      exit without touching /dev/kvm\n"
"  -h, --help          print this help\n"
"\n"
"SIGTERM or SIGINT asks the guest to power off (the line\n"
"\"agentbox:poweroff\" on its console); a second signal, or 10 s without a\n"
"power-off, stops it.\n"
"\n"
"Exit status:\n"
"  0-255  the status the guest wrote to I/O port 0xf4 (0: clean power-off)\n"
"  121    the VMM made a system call its seccomp filter forbids (the\n"
"         last line on stderr names it)\n"
"  122    the guest reset itself or triple-faulted\n"
"  123    KVM internal error or an exit the VMM cannot handle\n"
"  125    bad usage or input, or the VM could not be set up\n"
"  143    stopped by SIGTERM (130: SIGINT) because the guest did not power\n"
"         off in time\n";

const char opts_restore_usage[] =
"usage: agentbox restore DIR [--disk FILE[,ro]]... [--vsock SOCK[,cid=N]]\n"
"                        [--net tap=NAME]\n"
"                        [--console stdio|FILE] [--control SOCK] [--timings]\n"
"                        [--jail JDIR --uid N --gid N] [--no-seccomp]\n"
"\n"
"Resume the VM saved in the snapshot directory DIR. Guest RAM is the\n"
"snapshot's memory file mapped copy-on-write, so pages load as the guest\n"
"touches them and any number of restores share one file.\n"
"\n"
"  --disk FILE[,ro]    the i-th --disk replaces the snapshot's i-th\n"
"                      read-only disk; it must be the same disk (size,\n"
"                      modification time and sampled contents). Writable\n"
"                      disks are cloned from the snapshot for each restore\n"
"  --vsock SOCK[,cid=N]  needed when the snapshot has a vsock device; the\n"
"                      guest agent then gets the host's clock and fresh\n"
"                      entropy before the restore reports it ready\n"
"  --net tap=NAME      needed when the snapshot has a network device; the\n"
"                      guest keeps the snapshot's MAC address\n"
"  --console, --control, --timings, --jail, --uid, --gid, --no-seccomp\n"
"                      as for 'agentbox run'; with --jail, DIR and the\n"
"                      snapshot's disks are paths inside JDIR\n"
"\n"
"A snapshot from another loader version or CPU, with other disks, or\n"
"truncated or corrupt, is refused before the VM exists.\n";

enum opt_id {
	OPT_KERNEL,
	OPT_INITRD,
	OPT_DISK,
	OPT_MEM,
	OPT_CPUS,
	OPT_CMDLINE,
	OPT_CONSOLE,
	OPT_VSOCK,
	OPT_NET,
	OPT_CONTROL,
	OPT_SNAPSHOT_WHEN_READY,
	OPT_JAIL,
	OPT_UID,
	OPT_GID,
	OPT_NO_SECCOMP,
	OPT_WORKLOAD_MEM,
	OPT_WORKLOAD_PIDS,
	OPT_WORKLOAD_CPUS,
	OPT_TIMINGS,
	OPT_DRY_RUN,
	OPT_HELP,
};

struct opt_def {
	const char *name;
	enum opt_id id;
	bool has_arg;
	/* A restore takes its machine from the snapshot. */
	bool restore;
};

static const struct opt_def opt_defs[] = {
	{ "--kernel", OPT_KERNEL, true, false },
	{ "--initrd", OPT_INITRD, true, false },
	{ "--disk", OPT_DISK, true, true },
	{ "--mem", OPT_MEM, true, false },
	{ "--cpus", OPT_CPUS, true, false },
	{ "--cmdline", OPT_CMDLINE, true, false },
	{ "--console", OPT_CONSOLE, true, true },
	{ "--vsock", OPT_VSOCK, true, true },
	{ "--net", OPT_NET, true, true },
	{ "--control", OPT_CONTROL, true, true },
	{ "--snapshot-when-ready", OPT_SNAPSHOT_WHEN_READY, true, false },
	{ "--jail", OPT_JAIL, true, true },
	{ "--uid", OPT_UID, true, true },
	{ "--gid", OPT_GID, true, true },
	{ "--no-seccomp", OPT_NO_SECCOMP, false, true },
	{ "--workload-mem", OPT_WORKLOAD_MEM, true, false },
	{ "--workload-pids", OPT_WORKLOAD_PIDS, true, false },
	{ "--workload-cpus", OPT_WORKLOAD_CPUS, true, false },
	{ "--timings", OPT_TIMINGS, false, true },
	{ "--dry-run", OPT_DRY_RUN, false, false },
	{ "--help", OPT_HELP, false, true },
	{ "-h", OPT_HELP, false, true },
};

#define NR_OPT_DEFS	(sizeof(opt_defs) / sizeof(opt_defs[0]))

__printf(3, 4)
static int bad(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (why && n) {
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int size_shift(const char *suffix)
{
	if (!strcmp(suffix, "") || !strcmp(suffix, "M") || !strcmp(suffix, "m"))
		return 20;
	if (!strcmp(suffix, "K") || !strcmp(suffix, "k"))
		return 10;
	if (!strcmp(suffix, "G") || !strcmp(suffix, "g"))
		return 30;
	return -1;
}

int opts_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	char *end;
	int shift;

	/* strtoull would accept a sign and leading blanks; we do not. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	shift = size_shift(end);
	if (shift < 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int parse_mem(struct run_opts *o, const char *arg, char *why,
		     size_t n)
{
	uint64_t v;

	if (opts_parse_size(arg, &v))
		return bad(why, n, "--mem %s: not a size (use e.g. 512M or 1G)",
			   arg);
	if (v < OPT_MEM_MIN)
		return bad(why, n, "--mem %s: less than the minimum of %lluM",
			   arg, OPT_MEM_MIN >> 20);
	if (v > OPT_MEM_MAX)
		return bad(why, n, "--mem %s: more than the maximum of %lluG",
			   arg, OPT_MEM_MAX >> 30);
	if (v % LAYOUT_PAGE_SIZE)
		return bad(why, n, "--mem %s: not a multiple of 4K", arg);
	o->mem = v;
	o->mem_arg = arg;
	return 0;
}

static int parse_cpus(struct run_opts *o, const char *arg, char *why,
		      size_t n)
{
	unsigned long v = 0;
	char *end = NULL;

	/* strtoul would take a sign or blanks; a count is digits only. */
	if (*arg >= '0' && *arg <= '9') {
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end)
			v = 0;
	}
	if (v < 1 || v > MPTABLE_MAX_CPUS)
		return bad(why, n, "--cpus %s: not a number from 1 to %d", arg,
			   MPTABLE_MAX_CPUS);
	o->cpus = v;
	return 0;
}

/* "FILE,ro" is read-only; any other comma belongs to the file name. */
static int parse_disk(struct run_opts *o, const char *arg, char *why,
		      size_t n)
{
	size_t len = strlen(arg);
	struct disk_opt *d;
	char *path;

	if (o->nr_disks == OPT_MAX_DISKS)
		return bad(why, n, "--disk %s: more than %d disks", arg,
			   OPT_MAX_DISKS);
	d = &o->disk[o->nr_disks];
	d->ro = len >= 3 && !strcmp(arg + len - 3, ",ro");
	if (!d->ro) {
		d->path = arg;
	} else {
		/* The copy without ",ro" is freed by opts_release(). */
		path = strndup(arg, len - 3);
		if (!path)
			return bad(why, n, "--disk %s: out of memory", arg);
		d->path = path;
		d->path_owned = true;
	}
	/* Counted even when empty, so opts_release() frees the copy. */
	o->nr_disks++;
	if (!*d->path)
		return bad(why, n, "--disk %s: no file name", arg);
	return 0;
}

static int set_once(const char **slot, const char *name, const char *arg,
		    char *why, size_t n)
{
	if (*slot)
		return bad(why, n, "%s %s: given more than once", name, arg);
	if (!*arg)
		return bad(why, n, "%s: empty value", name);
	*slot = arg;
	return 0;
}

static int parse_cid(const char *s, uint32_t *cid)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < OPT_VSOCK_CID_MIN || v > OPT_VSOCK_CID_MAX)
		return -EINVAL;
	*cid = v;
	return 0;
}

/* "SOCK" or "SOCK,cid=N"; the last ",cid=" splits, as ",ro" for disks. */
static int parse_vsock(struct run_opts *o, const char *arg, char *why,
		       size_t n)
{
	const char *opt = NULL, *p;
	char *path;

	if (o->vsock)
		return bad(why, n, "--vsock %s: given more than once", arg);
	for (p = strstr(arg, ",cid="); p; p = strstr(p + 1, ",cid="))
		opt = p;
	if (opt && parse_cid(opt + 5, &o->vsock_cid))
		return bad(why, n, "--vsock %s: cid is not a number from %u to %u",
			   arg, OPT_VSOCK_CID_MIN, OPT_VSOCK_CID_MAX);
	if (!opt) {
		o->vsock = arg;
	} else {
		path = strndup(arg, opt - arg);
		if (!path)
			return bad(why, n, "--vsock %s: out of memory", arg);
		o->vsock = path;
		o->vsock_owned = true;
	}
	if (!*o->vsock)
		return bad(why, n, "--vsock %s: no socket path", arg);
	if (strlen(o->vsock) > OPT_VSOCK_PATH_MAX)
		return bad(why, n, "--vsock %s: socket path longer than %d bytes",
			   arg, OPT_VSOCK_PATH_MAX);
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int opts_parse_mac(const char *s, uint8_t mac[OPT_MAC_LEN])
{
	int i, hi, lo;

	if (strlen(s) != OPT_MAC_LEN * 3 - 1)
		return -EINVAL;
	for (i = 0; i < OPT_MAC_LEN; i++, s += 3) {
		hi = hex_digit(s[0]);
		lo = hex_digit(s[1]);
		if (hi < 0 || lo < 0 || (i < OPT_MAC_LEN - 1 && s[2] != ':'))
			return -EINVAL;
		mac[i] = hi << 4 | lo;
	}
	return 0;
}

/*
 * "tap=NAME" or "tap=NAME,mac=M". A multicast MAC (low bit of the first
 * byte) would have the guest's every frame flooded: refused.
 */
static int parse_net(struct run_opts *o, const char *arg, char *why,
		     size_t n)
{
	const char *mac = strstr(arg, ",mac=");
	char *name;

	if (o->net_tap)
		return bad(why, n, "--net %s: given more than once", arg);
	if (strncmp(arg, "tap=", 4))
		return bad(why, n, "--net %s: not tap=NAME, the only kind of network", arg);
	if (mac && (opts_parse_mac(mac + 5, o->net_mac) || (o->net_mac[0] & 1)))
		return bad(why, n, "--net %s: mac is not a unicast address like 02:00:00:00:00:01",
			   arg);
	o->has_net_mac = mac;
	name = strndup(arg + 4, mac ? (size_t)(mac - arg - 4) : strlen(arg + 4));
	if (!name)
		return bad(why, n, "--net %s: out of memory", arg);
	o->net_tap = name;
	o->net_tap_owned = true;
	if (!*name || strlen(name) >= OPT_IFNAME_MAX)
		return bad(why, n, "--net %s: the tap's name must have 1 to %d bytes",
			   arg, OPT_IFNAME_MAX - 1);
	return 0;
}

/* Digits only, and never -1 (uid_t), which setresuid() takes as "keep". */
static int parse_id(const char *name, const char *arg, uint32_t *id,
		    bool *set, char *why, size_t n)
{
	unsigned long long v = 0;
	char *end = NULL;

	if (*set)
		return bad(why, n, "%s %s: given more than once", name, arg);
	if (*arg >= '0' && *arg <= '9') {
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || *end)
			end = NULL;
	}
	if (!end || v > OPT_ID_MAX)
		return bad(why, n, "%s %s: not a number from 0 to %u", name,
			   arg, OPT_ID_MAX);
	*id = v;
	*set = true;
	return 0;
}

/* The guest's init parses these again with the same functions. */
static int parse_workload(struct run_opts *o, const struct opt_def *d,
			  const char *arg, char *why, size_t n)
{
	unsigned int cpus;
	uint64_t v;

	switch (d->id) {
	case OPT_WORKLOAD_MEM:
		if (workload_parse_mem(arg, &v))
			return bad(why, n, "%s %s: " WORKLOAD_MEM_RULE, d->name, arg);
		return set_once(&o->workload_mem, d->name, arg, why, n);
	case OPT_WORKLOAD_PIDS:
		if (workload_parse_pids(arg, &v))
			return bad(why, n, "%s %s: " WORKLOAD_PIDS_RULE, d->name, arg);
		return set_once(&o->workload_pids, d->name, arg, why, n);
	default:
		if (workload_parse_cpus(arg, &cpus))
			return bad(why, n, "%s %s: " WORKLOAD_CPUS_RULE, d->name, arg);
		return set_once(&o->workload_cpus, d->name, arg, why, n);
	}
}

static int apply(struct run_opts *o, const struct opt_def *d,
		 const char *arg, char *why, size_t n)
{
	switch (d->id) {
	case OPT_KERNEL:
		return set_once(&o->kernel, d->name, arg, why, n);
	case OPT_INITRD:
		return set_once(&o->initrd, d->name, arg, why, n);
	case OPT_DISK:
		return parse_disk(o, arg, why, n);
	case OPT_MEM:
		return parse_mem(o, arg, why, n);
	case OPT_CPUS:
		return parse_cpus(o, arg, why, n);
	case OPT_CMDLINE:
		return set_once(&o->cmdline, d->name, arg, why, n);
	case OPT_CONSOLE:
		return set_once(&o->console, d->name, arg, why, n);
	case OPT_VSOCK:
		return parse_vsock(o, arg, why, n);
	case OPT_NET:
		return parse_net(o, arg, why, n);
	case OPT_CONTROL:
		return set_once(&o->control, d->name, arg, why, n);
	case OPT_SNAPSHOT_WHEN_READY:
		return set_once(&o->snapshot_when_ready, d->name, arg, why, n);
	case OPT_JAIL:
		return set_once(&o->jail, d->name, arg, why, n);
	case OPT_UID:
		return parse_id(d->name, arg, &o->uid, &o->has_uid, why, n);
	case OPT_GID:
		return parse_id(d->name, arg, &o->gid, &o->has_gid, why, n);
	case OPT_NO_SECCOMP:
		o->no_seccomp = true;
		return 0;
	case OPT_WORKLOAD_MEM:
	case OPT_WORKLOAD_PIDS:
	case OPT_WORKLOAD_CPUS:
		return parse_workload(o, d, arg, why, n);
	case OPT_TIMINGS:
		o->timings = true;
		return 0;
	case OPT_DRY_RUN:
		o->dry_run = true;
		return 0;
	case OPT_HELP:
		o->help = true;
		return 0;
	}
	return bad(why, n, "%s: unhandled option", d->name);
}

/* Match "--name" or "--name=value"; *inline_arg is the part after '='. */
static const struct opt_def *find_opt(const char *arg, const char **inline_arg)
{
	size_t i, len;

	for (i = 0; i < NR_OPT_DEFS; i++) {
		len = strlen(opt_defs[i].name);
		if (strncmp(arg, opt_defs[i].name, len))
			continue;
		if (arg[len] == '\0') {
			*inline_arg = NULL;
			return &opt_defs[i];
		}
		if (arg[len] == '=') {
			*inline_arg = arg + len + 1;
			return &opt_defs[i];
		}
	}
	return NULL;
}

static void set_defaults(struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mem = OPT_MEM_DEFAULT;
	o->mem_arg = "512M";
	o->cpus = OPT_CPUS_DEFAULT;
	o->vsock_cid = OPT_VSOCK_CID_DEFAULT;
}

/* --console stdio means the default; keep NULL for it. */
static void normalize(struct run_opts *o)
{
	if (o->console && !strcmp(o->console, "stdio"))
		o->console = NULL;
}

/*
 * A jail without ids would leave the VMM root in it, and ids without a
 * jail would leave it every file the user can reach: both or neither.
 */
static int check_jail(const struct run_opts *o, char *why, size_t n)
{
	if (o->jail && (!o->has_uid || !o->has_gid))
		return bad(why, n, "--jail %s: needs --uid and --gid, the ids to run as",
			   o->jail);
	if (!o->jail && o->has_uid)
		return bad(why, n, "--uid: only with --jail");
	if (!o->jail && o->has_gid)
		return bad(why, n, "--gid: only with --jail");
	return 0;
}

/* The disks, then the rng, vsock and net, in as many virtio slots. */
static int check_slots(const struct run_opts *o, char *why, size_t n)
{
	unsigned int extra = !!o->vsock + !!o->net_tap;

	if (o->nr_disks + extra <= OPT_MAX_DISKS)
		return 0;
	return bad(why, n, "%s %s: no virtio slot left after %u disks (at most %u with %s)",
		   o->net_tap ? "--net" : "--vsock",
		   o->net_tap ? o->net_tap : o->vsock, o->nr_disks,
		   OPT_MAX_DISKS - extra,
		   extra == 2 ? "vsock and net" : o->net_tap ? "net" : "vsock");
}

/* The options themselves; restore says which command they are for. */
static int parse_args(struct run_opts *o, int argc, char *const argv[],
		      bool restore, char *why, size_t why_size)
{
	const char *cmd = restore ? "restore" : "run";
	const struct opt_def *d;
	const char *arg;
	int i, err;

	for (i = 0; i < argc; i++) {
		d = find_opt(argv[i], &arg);
		if (!d && argv[i][0] == '-')
			return bad(why, why_size,
				   "%s: unknown option (see 'agentbox %s --help')",
				   argv[i], cmd);
		if (!d && restore && !o->restore_dir && *argv[i]) {
			o->restore_dir = argv[i];
			continue;
		}
		if (!d)
			return bad(why, why_size, "%s: unexpected argument",
				   argv[i]);
		if (restore && !d->restore)
			return bad(why, why_size,
				   "%s: not for a restore, which takes the machine from the snapshot",
				   d->name);
		if (!d->has_arg && arg)
			return bad(why, why_size, "%s: takes no value",
				   argv[i]);
		if (d->has_arg && !arg) {
			if (i + 1 == argc)
				return bad(why, why_size, "%s: needs a value",
					   d->name);
			arg = argv[++i];
		}
		err = apply(o, d, arg, why, why_size);
		if (err)
			return err;
	}
	normalize(o);
	err = check_slots(o, why, why_size);
	if (err)
		return err;
	return check_jail(o, why, why_size);
}

/* Limits the machine cannot meet are the user's mistake, not the guest's. */
static int check_workload(const struct run_opts *o, char *why, size_t n)
{
	unsigned int cpus;
	uint64_t mem;

	if (o->workload_mem && !workload_parse_mem(o->workload_mem, &mem) &&
	    mem > o->mem)
		return bad(why, n, "--workload-mem %s: more than --mem %s",
			   o->workload_mem, o->mem_arg);
	if (o->workload_cpus && !workload_parse_cpus(o->workload_cpus, &cpus) &&
	    cpus > o->cpus * WORKLOAD_CPU_SCALE)
		return bad(why, n, "--workload-cpus %s: more than the %u vCPUs of --cpus",
			   o->workload_cpus, o->cpus);
	return 0;
}

static int append_arg(char *buf, size_t size, size_t *len, const char *key,
		      const char *val)
{
	int w;

	if (!val)
		return 0;
	w = snprintf(buf + *len, size - *len, "%s%s%s%s", *len ? " " : "",
		     key, key[0] ? "=" : "", val);
	if (w < 0 || (size_t)w >= size - *len)
		return -E2BIG;
	*len += w;
	return 0;
}

/*
 * The limits go first so that a --cmdline that names them too wins, as
 * the init takes the last of a repeated parameter.
 */
static int build_cmdline(struct run_opts *o, char *why, size_t n)
{
	size_t size = 256 + (o->cmdline ? strlen(o->cmdline) : 0), len = 0;
	char *buf;

	if (!o->workload_mem && !o->workload_pids && !o->workload_cpus)
		return 0;
	buf = malloc(size);
	if (!buf)
		return bad(why, n, "--cmdline: out of memory");
	if (append_arg(buf, size, &len, WORKLOAD_MEM_PARAM, o->workload_mem) ||
	    append_arg(buf, size, &len, WORKLOAD_PIDS_PARAM, o->workload_pids) ||
	    append_arg(buf, size, &len, WORKLOAD_CPUS_PARAM, o->workload_cpus) ||
	    append_arg(buf, size, &len, "", o->cmdline)) {
		free(buf);
		return bad(why, n, "--cmdline: too long with the workload limits");
	}
	o->cmdline = buf;
	o->cmdline_owned = true;
	return 0;
}

int opts_parse(struct run_opts *o, int argc, char *const argv[], char *why,
	       size_t why_size)
{
	int err;

	set_defaults(o);
	err = parse_args(o, argc, argv, false, why, why_size);
	if (err)
		return err;
	if (!o->help && !o->kernel)
		return bad(why, why_size,
			   "--kernel: missing (see 'agentbox run --help')");
	if (o->snapshot_when_ready && o->dry_run)
		return bad(why, why_size,
			   "--snapshot-when-ready %s: a dry run boots nothing to snapshot",
			   o->snapshot_when_ready);
	return check_workload(o, why, why_size) ?: build_cmdline(o, why, why_size);
}

int opts_parse_restore(struct run_opts *o, int argc, char *const argv[],
		       char *why, size_t why_size)
{
	int err;

	set_defaults(o);
	err = parse_args(o, argc, argv, true, why, why_size);
	if (err)
		return err;
	if (!o->help && !o->restore_dir)
		return bad(why, why_size,
			   "DIR: missing, the snapshot directory (see 'agentbox restore --help')");
	/* The guest's driver read its MAC before the snapshot. */
	if (o->has_net_mac)
		return bad(why, why_size,
			   "--net tap=%s,mac=...: a restore keeps the snapshot's MAC address",
			   o->net_tap);
	return 0;
}

void opts_release(struct run_opts *o)
{
	unsigned int i;

	for (i = 0; i < o->nr_disks; i++)
		if (o->disk[i].path_owned)
			free((char *)o->disk[i].path);
	o->nr_disks = 0;
	if (o->cmdline_owned)
		free((char *)o->cmdline);
	o->cmdline = NULL;
	o->cmdline_owned = false;
	if (o->vsock_owned)
		free((char *)o->vsock);
	o->vsock = NULL;
	o->vsock_owned = false;
	if (o->net_tap_owned)
		free((char *)o->net_tap);
	o->net_tap = NULL;
	o->net_tap_owned = false;
}
