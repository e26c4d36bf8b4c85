/* `agentbox run` option parsing: values, defaults, and every error line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "options.h"
#include "workload.h"

#define SUITE	"options"
#define MAX_ARGS	64

static struct run_opts o;
static char why[512];

/* Parse a NULL-terminated list with opts_parse() or opts_parse_restore(). */
static int parse_as(bool restore, const char *first, va_list ap)
{
	char *argv[MAX_ARGS];
	const char *a;
	int argc = 0;

	for (a = first; a && argc < MAX_ARGS; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	opts_release(&o);
	why[0] = '\0';
	if (restore)
		return opts_parse_restore(&o, argc, argv, why, sizeof(why));
	return opts_parse(&o, argc, argv, why, sizeof(why));
}

static int parse(const char *first, ...)
{
	va_list ap;
	int err;

	va_start(ap, first);
	err = parse_as(false, first, ap);
	va_end(ap);
	return err;
}

static int parse_restore(const char *first, ...)
{
	va_list ap;
	int err;

	va_start(ap, first);
	err = parse_as(true, first, ap);
	va_end(ap);
	return err;
}

static void test_defaults(struct check *c)
{
	if (!CHECK_INT(c, parse("--kernel", "k", NULL), 0))
		return;
	CHECK_STR(c, o.kernel, "k");
	CHECK_U64(c, o.mem, 512ULL << 20);
	CHECK_STR(c, o.mem_arg, "512M");
	CHECK_INT(c, o.cpus, 1);
	CHECK_INT(c, o.nr_disks, 0);
	CHECK(c, !o.initrd && !o.cmdline && !o.console);
	CHECK(c, !o.timings && !o.dry_run && !o.help);
}

static void test_everything(struct check *c)
{
	if (!CHECK_INT(c, parse("--kernel", "vmlinux", "--initrd=init.cpio",
				"--disk", "root.ext4,ro", "--disk", "a,b.img",
				"--mem", "1G", "--cpus=2", "--cmdline",
				"quiet loglevel=3", "--console", "out.log",
				"--timings", "--dry-run", NULL), 0)) {
		check_fail(c, "%s", why);
		return;
	}
	CHECK_STR(c, o.kernel, "vmlinux");
	CHECK_STR(c, o.initrd, "init.cpio");
	CHECK_INT(c, o.nr_disks, 2);
	CHECK_STR(c, o.disk[0].path, "root.ext4");
	CHECK(c, o.disk[0].ro);
	/* A comma that is not ",ro" belongs to the file name. */
	CHECK_STR(c, o.disk[1].path, "a,b.img");
	CHECK(c, !o.disk[1].ro);
	CHECK_U64(c, o.mem, 1ULL << 30);
	CHECK_STR(c, o.mem_arg, "1G");
	CHECK_INT(c, o.cpus, 2);
	CHECK_STR(c, o.cmdline, "quiet loglevel=3");
	CHECK_STR(c, o.console, "out.log");
	CHECK(c, o.timings && o.dry_run);
}

static void test_console_stdio(struct check *c)
{
	CHECK_INT(c, parse("--kernel", "k", "--console", "stdio", NULL), 0);
	CHECK(c, o.console == NULL);
}

static void test_help(struct check *c)
{
	CHECK_INT(c, parse("--help", NULL), 0);
	CHECK(c, o.help);
	CHECK_INT(c, parse("-h", NULL), 0);
	CHECK(c, o.help);
}

static void test_sizes(struct check *c)
{
	uint64_t v = 0;

	CHECK_INT(c, opts_parse_size("512M", &v), 0);
	CHECK_U64(c, v, 512ULL << 20);
	CHECK_INT(c, opts_parse_size("2g", &v), 0);
	CHECK_U64(c, v, 2ULL << 30);
	CHECK_INT(c, opts_parse_size("65536K", &v), 0);
	CHECK_U64(c, v, 64ULL << 20);
	/* A bare number is MiB, as with QEMU's -m. */
	CHECK_INT(c, opts_parse_size("64", &v), 0);
	CHECK_U64(c, v, 64ULL << 20);
	CHECK_INT(c, opts_parse_size("", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size("lots", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size("-1G", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size(" 1G", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size("1T", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size("1GB", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size("99999999999999999999G", &v), -EINVAL);
	CHECK_INT(c, opts_parse_size("17179869184G", &v), -EINVAL);
}

struct bad_case {
	const char *args[6];
	const char *why;
};

static const struct bad_case bad_cases[] = {
	{ { "--frobnicate" },
	  "--frobnicate: unknown option (see 'agentbox run --help')" },
	{ { "--kernel", "k", "extra" }, "extra: unexpected argument" },
	{ { "--kernel" }, "--kernel: needs a value" },
	{ { "--kernel", "k", "--mem" }, "--mem: needs a value" },
	{ { "--initrd", "i" }, "--kernel: missing (see 'agentbox run --help')" },
	{ { "--kernel", "a", "--kernel", "b" },
	  "--kernel b: given more than once" },
	{ { "--kernel", "" }, "--kernel: empty value" },
	{ { "--kernel", "k", "--timings=yes" }, "--timings=yes: takes no value" },
	{ { "--kernel", "k", "--mem", "lots" },
	  "--mem lots: not a size (use e.g. 512M or 1G)" },
	{ { "--kernel", "k", "--mem", "0" },
	  "--mem 0: less than the minimum of 4M" },
	{ { "--kernel", "k", "--mem", "3M" },
	  "--mem 3M: less than the minimum of 4M" },
	{ { "--kernel", "k", "--mem", "300G" },
	  "--mem 300G: more than the maximum of 256G" },
	{ { "--kernel", "k", "--mem", "8193K" },
	  "--mem 8193K: not a multiple of 4K" },
	{ { "--kernel", "k", "--cpus", "0" },
	  "--cpus 0: not a number from 1 to 254" },
	{ { "--kernel", "k", "--cpus", "255" },
	  "--cpus 255: not a number from 1 to 254" },
	{ { "--kernel", "k", "--cpus", "two" },
	  "--cpus two: not a number from 1 to 254" },
	{ { "--kernel", "k", "--cpus", "-1" },
	  "--cpus -1: not a number from 1 to 254" },
	{ { "--kernel", "k", "--cpus", "2x" },
	  "--cpus 2x: not a number from 1 to 254" },
	{ { "--kernel", "k", "--disk", ",ro" }, "--disk ,ro: no file name" },
	{ { "--kernel", "k", "--console", "a", "--console", "b" },
	  "--console b: given more than once" },
	{ { "--kernel", "k", "--workload-mem", "8M" },
	  "--workload-mem 8M: not a size of at least 16M (like 256M or 2G)" },
	{ { "--kernel", "k", "--workload-mem", "1T" },
	  "--workload-mem 1T: not a size of at least 16M (like 256M or 2G)" },
	{ { "--kernel", "k", "--workload-mem", "1G" },
	  "--workload-mem 1G: more than --mem 512M" },
	{ { "--kernel", "k", "--workload-pids", "15" },
	  "--workload-pids 15: not a number from 16 to 4194304" },
	{ { "--kernel", "k", "--workload-pids", "4194305" },
	  "--workload-pids 4194305: not a number from 16 to 4194304" },
	{ { "--kernel", "k", "--workload-pids", "+100" },
	  "--workload-pids +100: not a number from 16 to 4194304" },
	{ { "--kernel", "k", "--workload-cpus", "0" },
	  "--workload-cpus 0: not a number of CPUs from 0.01 to 1024 (like 1.5)" },
	{ { "--kernel", "k", "--workload-cpus", "0.125" },
	  "--workload-cpus 0.125: not a number of CPUs from 0.01 to 1024 (like 1.5)" },
	{ { "--kernel", "k", "--workload-cpus", "1.5" },
	  "--workload-cpus 1.5: more than the 1 vCPUs of --cpus" },
	{ { "--kernel", "k", "--workload-pids", "64", "--workload-pids", "65" },
	  "--workload-pids 65: given more than once" },
};

static void test_bad(struct check *c)
{
	const struct bad_case *b;
	char *argv[6];
	unsigned int i;
	int argc;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		b = &bad_cases[i];
		for (argc = 0; argc < 6 && b->args[argc]; argc++)
			argv[argc] = (char *)b->args[argc];
		opts_release(&o);
		why[0] = '\0';
		if (opts_parse(&o, argc, argv, why, sizeof(why)) != -EINVAL) {
			check_fail(c, "case %u (%s ...) parsed", i, b->args[0]);
			return;
		}
		if (!CHECK_STR(c, why, b->why))
			return;
	}
}

/* The limits go on the kernel command line, before the user's own part. */
static void test_workload_options(struct check *c)
{
	if (!CHECK_INT(c, parse("--kernel", "k", "--mem", "1G", "--cpus", "2",
				"--workload-mem", "256M", "--workload-pids=200",
				"--workload-cpus", "1.5", "--cmdline", "quiet", NULL), 0)) {
		check_fail(c, "%s", why);
		return;
	}
	CHECK_STR(c, o.cmdline, "agentbox.workload_mem=256M agentbox.workload_pids=200 "
		  "agentbox.workload_cpus=1.5 quiet");
	CHECK_INT(c, parse("--kernel", "k", "--workload-cpus", "0.5", NULL), 0);
	CHECK_STR(c, o.cmdline, "agentbox.workload_cpus=0.5");
	/* Equal to the machine is allowed: no room kept, as asked. */
	CHECK_INT(c, parse("--kernel", "k", "--workload-mem", "512M",
			   "--workload-cpus", "1", NULL), 0);
	CHECK_INT(c, parse("--kernel", "k", "--cmdline", "quiet", NULL), 0);
	CHECK_STR(c, o.cmdline, "quiet");
	CHECK_INT(c, parse_restore("/snap", "--workload-mem", "64M", NULL), -EINVAL);
	CHECK_STR(c, why, "--workload-mem: not for a restore, which takes the machine from the snapshot");
}

/* The parsers the guest's init uses too (initramfs/workload.h). */
static void test_workload_parsers(struct check *c)
{
	unsigned int cpus = 0;
	uint64_t v = 0;

	CHECK_INT(c, workload_parse_mem("256M", &v), 0);
	CHECK_U64(c, v, 256ULL << 20);
	CHECK_INT(c, workload_parse_mem("64", &v), 0);
	CHECK_U64(c, v, 64ULL << 20);
	CHECK_INT(c, workload_parse_mem("16384k", &v), 0);
	CHECK_U64(c, v, 16ULL << 20);
	CHECK_INT(c, workload_parse_mem("2g", &v), 0);
	CHECK_U64(c, v, 2ULL << 30);
	CHECK_INT(c, workload_parse_mem("16383K", &v), -EINVAL);
	CHECK_INT(c, workload_parse_mem("", &v), -EINVAL);
	CHECK_INT(c, workload_parse_mem("1MB", &v), -EINVAL);
	CHECK_INT(c, workload_parse_mem(" 1G", &v), -EINVAL);
	CHECK_INT(c, workload_parse_mem("18446744073709551615", &v), -EINVAL);
	CHECK_INT(c, workload_parse_mem("18446744073709551616K", &v), -EINVAL);
	CHECK_INT(c, workload_parse_pids("16", &v), 0);
	CHECK_U64(c, v, 16);
	CHECK_INT(c, workload_parse_pids("4194304", &v), 0);
	CHECK_INT(c, workload_parse_pids("100 ", &v), -EINVAL);
	CHECK_INT(c, workload_parse_pids("-16", &v), -EINVAL);
	CHECK_INT(c, workload_parse_cpus("1.5", &cpus), 0);
	CHECK_INT(c, cpus, 150);
	CHECK_INT(c, workload_parse_cpus("0.05", &cpus), 0);
	CHECK_INT(c, cpus, 5);
	CHECK_INT(c, workload_parse_cpus("2", &cpus), 0);
	CHECK_INT(c, cpus, 200);
	CHECK_INT(c, workload_parse_cpus("1024.00", &cpus), 0);
	CHECK_INT(c, cpus, 102400);
	CHECK_INT(c, workload_parse_cpus("1024.01", &cpus), -EINVAL);
	CHECK_INT(c, workload_parse_cpus("0.00", &cpus), -EINVAL);
	CHECK_INT(c, workload_parse_cpus("1.", &cpus), -EINVAL);
	CHECK_INT(c, workload_parse_cpus(".5", &cpus), -EINVAL);
	CHECK_INT(c, workload_parse_cpus("1,5", &cpus), -EINVAL);
	CHECK_INT(c, workload_parse_cpus("99999999999999999999", &cpus), -EINVAL);
}

static void test_workload_defaults(struct check *c)
{
	/* 2 GiB: 192M and 128M stay with the daemons and the kernel. */
	CHECK_U64(c, workload_default_mem(2048ULL << 20), 1728ULL << 20);
	CHECK_U64(c, workload_default_mem(512ULL << 20), 288ULL << 20);
	/* A tiny guest still gives its workload a quarter. */
	CHECK_U64(c, workload_default_mem(128ULL << 20), 32ULL << 20);
	CHECK_U64(c, workload_default_pids(16384), 15360);
	CHECK_U64(c, workload_default_pids(100), WORKLOAD_PIDS_FLOOR);
	CHECK_INT(c, workload_default_cpus(1), 90);
	CHECK_INT(c, workload_default_cpus(4), 360);
}

static void test_snapshot_options(struct check *c)
{
	if (!CHECK_INT(c, parse("--kernel", "k", "--control", "/tmp/c.sock",
				"--snapshot-when-ready", "/tmp/t", NULL), 0))
		return;
	CHECK_STR(c, o.control, "/tmp/c.sock");
	CHECK_STR(c, o.snapshot_when_ready, "/tmp/t");
	CHECK_INT(c, parse("--kernel", "k", "--snapshot-when-ready", "/tmp/t",
			   "--dry-run", NULL), -EINVAL);
	CHECK_STR(c, why, "--snapshot-when-ready /tmp/t: a dry run boots nothing to snapshot");
}

/* A restore takes its machine from the snapshot, and only that. */
static void test_restore(struct check *c)
{
	if (!CHECK_INT(c, parse_restore("/snap", "--disk", "root.ext4,ro",
					"--vsock", "/tmp/v.sock,cid=7",
					"--timings", NULL), 0))
		return;
	CHECK_STR(c, o.restore_dir, "/snap");
	CHECK_INT(c, o.nr_disks, 1);
	CHECK_STR(c, o.disk[0].path, "root.ext4");
	CHECK(c, o.disk[0].ro);
	CHECK_INT(c, o.vsock_cid, 7);
	CHECK(c, o.timings);
	CHECK_INT(c, parse_restore("--vsock", "/tmp/v.sock", NULL), -EINVAL);
	CHECK_STR(c, why, "DIR: missing, the snapshot directory (see 'agentbox restore --help')");
	CHECK_INT(c, parse_restore("/snap", "--mem", "1G", NULL), -EINVAL);
	CHECK_STR(c, why, "--mem: not for a restore, which takes the machine from the snapshot");
	CHECK_INT(c, parse_restore("/snap", "/other", NULL), -EINVAL);
	CHECK_STR(c, why, "/other: unexpected argument");
	CHECK_INT(c, parse_restore("--help", NULL), 0);
	CHECK(c, o.help);
}

static void test_jail(struct check *c)
{
	if (!CHECK_INT(c, parse("--kernel", "/k", "--jail", "/srv/j", "--uid",
				"1000", "--gid", "0", "--no-seccomp", NULL), 0))
		return;
	CHECK_STR(c, o.jail, "/srv/j");
	CHECK_INT(c, o.uid, 1000);
	CHECK_INT(c, o.gid, 0);
	CHECK(c, o.no_seccomp);
	CHECK_INT(c, parse("--kernel", "/k", "--jail", "/j", "--uid",
			   "4294967294", "--gid", "7", NULL), 0);
	CHECK_U64(c, o.uid, 4294967294U);
	CHECK_INT(c, parse_restore("/snap", "--jail", "/j", "--uid", "1",
				   "--gid", "2", "--no-seccomp", NULL), 0);
	CHECK_STR(c, o.jail, "/j");
	CHECK(c, o.no_seccomp);
	CHECK(c, !parse("--kernel", "k", NULL) && !o.jail && !o.no_seccomp);
}

/* Each id is a plain number, and the jail and the ids come together. */
static void test_jail_bad(struct check *c)
{
	static const char *const ids[][2] = {
		{ "abc", "--uid abc: not a number from 0 to 4294967294" },
		{ "-1", "--uid -1: not a number from 0 to 4294967294" },
		{ "4294967295", "--uid 4294967295: not a number from 0 to 4294967294" },
		{ "99999999999999999999", "--uid 99999999999999999999: not a number from 0 to 4294967294" },
		{ " 1", "--uid  1: not a number from 0 to 4294967294" },
		{ "1k", "--uid 1k: not a number from 0 to 4294967294" },
		{ "", "--uid : not a number from 0 to 4294967294" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		CHECK_INT(c, parse("--kernel", "k", "--jail", "/j", "--uid",
				   ids[i][0], "--gid", "1", NULL), -EINVAL);
		if (!CHECK_STR(c, why, ids[i][1]))
			return;
	}
	CHECK_INT(c, parse("--kernel", "k", "--jail", "/j", "--uid", "1",
			   "--gid", "x", NULL), -EINVAL);
	CHECK_STR(c, why, "--gid x: not a number from 0 to 4294967294");
	CHECK_INT(c, parse("--kernel", "k", "--jail", "/j", "--uid", "1",
			   "--uid", "2", "--gid", "1", NULL), -EINVAL);
	CHECK_STR(c, why, "--uid 2: given more than once");
	CHECK_INT(c, parse("--kernel", "k", "--jail", "/j", "--uid", "1",
			   NULL), -EINVAL);
	CHECK_STR(c, why, "--jail /j: needs --uid and --gid, the ids to run as");
	CHECK_INT(c, parse("--kernel", "k", "--uid", "1", NULL), -EINVAL);
	CHECK_STR(c, why, "--uid: only with --jail");
	CHECK_INT(c, parse("--kernel", "k", "--gid", "1", NULL), -EINVAL);
	CHECK_STR(c, why, "--gid: only with --jail");
	CHECK_INT(c, parse("--kernel", "k", "--jail", "", NULL), -EINVAL);
	CHECK_STR(c, why, "--jail: empty value");
	CHECK_INT(c, parse_restore("/s", "--jail", "/j", NULL), -EINVAL);
	CHECK_STR(c, why, "--jail /j: needs --uid and --gid, the ids to run as");
}

static void test_too_many_disks(struct check *c)
{
	char *argv[2 + 2 * (OPT_MAX_DISKS + 1)];
	int argc = 0;
	unsigned int i;

	argv[argc++] = "--kernel";
	argv[argc++] = "k";
	for (i = 0; i <= OPT_MAX_DISKS; i++) {
		argv[argc++] = "--disk";
		argv[argc++] = "d,ro";
	}
	opts_release(&o);
	CHECK_INT(c, opts_parse(&o, argc, argv, why, sizeof(why)), -EINVAL);
	CHECK_STR(c, why, "--disk d,ro: more than 18 disks");
	CHECK_INT(c, o.nr_disks, OPT_MAX_DISKS);
}

int main(void)
{
	RUN(SUITE, test_defaults);
	RUN(SUITE, test_everything);
	RUN(SUITE, test_console_stdio);
	RUN(SUITE, test_help);
	RUN(SUITE, test_sizes);
	RUN(SUITE, test_bad);
	RUN(SUITE, test_too_many_disks);
	RUN(SUITE, test_snapshot_options);
	RUN(SUITE, test_workload_options);
	RUN(SUITE, test_workload_parsers);
	RUN(SUITE, test_workload_defaults);
	RUN(SUITE, test_restore);
	RUN(SUITE, test_jail);
	RUN(SUITE, test_jail_bad);
	opts_release(&o);
	return check_exit();
}
