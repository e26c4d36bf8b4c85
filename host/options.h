/*
 * The command line of `agentbox run`, parsed without side effects so every
 * malformed option is reported before anything is opened.
 */
#ifndef AGENTBOX_OPTIONS_H
#define AGENTBOX_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* One virtio-mmio slot stays free for the entropy device. */
#define OPT_MAX_DISKS		(LAYOUT_VIRTIO_MAX_DEVICES - 1)
#define OPT_VSOCK_CID_DEFAULT	3U
/* CIDs 0-2 are reserved and Linux takes -1 (u32) to mean "any". */
#define OPT_VSOCK_CID_MIN	3U
#define OPT_VSOCK_CID_MAX	0xfffffffeU
/* So that "<SOCK>_<port>" still fits a unix socket address. */
#define OPT_VSOCK_PATH_MAX	96
#define OPT_MAC_LEN		6
/* IFNAMSIZ, with the NUL. */
#define OPT_IFNAME_MAX		16
#define OPT_MEM_DEFAULT		(512ULL << 20)
/* Below this not even the boot structures and a tiny kernel fit. */
#define OPT_MEM_MIN		(4ULL << 20)
/* The guest-physical address width of the nested test CPU is 40 bits. */
#define OPT_MEM_MAX		(256ULL << 30)
#define OPT_CPUS_DEFAULT	1U
/* (uid_t)-1 means "unchanged" to setresuid(), so it is no id. */
#define OPT_ID_MAX		0xfffffffeU

struct disk_opt {
	const char *path;
	bool ro;
	/* path is ours to free (the copy without ",ro"). */
	bool path_owned;
};

struct run_opts {
	const char *kernel;
	const char *initrd;
	struct disk_opt disk[OPT_MAX_DISKS];
	unsigned int nr_disks;
	uint64_t mem;
	/* --mem as the user wrote it, for messages that blame it. */
	const char *mem_arg;
	unsigned int cpus;
	/*
	 * What goes after the loader's own kernel arguments: the workload
	 * limits, then --cmdline. Ours to free when cmdline_owned.
	 */
	const char *cmdline;
	bool cmdline_owned;
	/* --workload-*: checked, as given; NULL leaves the guest's default. */
	const char *workload_mem;
	const char *workload_pids;
	const char *workload_cpus;
	/* NULL: the guest console is our stdin/stdout. */
	const char *console;
	/* --vsock: the host-side unix socket, NULL for no vsock device. */
	const char *vsock;
	bool vsock_owned;
	uint32_t vsock_cid;
	/* --net tap=NAME[,mac=M]: the tap's name, NULL for no network. */
	const char *net_tap;
	bool net_tap_owned;
	uint8_t net_mac[OPT_MAC_LEN];
	bool has_net_mac;
	/* --control: the unix socket for pause, resume, snapshot and stop. */
	const char *control;
	/* --snapshot-when-ready: where the warm template goes. */
	const char *snapshot_when_ready;
	/* agentbox restore: the snapshot directory. */
	const char *restore_dir;
	/* --jail: the new root; uid and gid are what the VMM drops to. */
	const char *jail;
	uint32_t uid;
	uint32_t gid;
	bool has_uid;
	bool has_gid;
	/* --no-seccomp, for debugging. */
	bool no_seccomp;
	bool timings;
	bool dry_run;
	bool help;
};

extern const char opts_usage[];
extern const char opts_restore_usage[];

/*
 * Parse the arguments that follow "run". Returns 0 (o->help set if help
 * was asked for), or -EINVAL with "<input>: <reason>" in why.
 */
int opts_parse(struct run_opts *o, int argc, char *const argv[], char *why,
	       size_t why_size);

/*
 * The arguments that follow "restore": DIR, then the options a restore
 * may change (disks, vsock, console, control socket, timings).
 */
int opts_parse_restore(struct run_opts *o, int argc, char *const argv[],
		       char *why, size_t why_size);

/* Free what opts_parse() allocated, after a failed parse too. */
void opts_release(struct run_opts *o);

/* "02:00:00:00:00:01": six pairs of hex digits. -EINVAL otherwise. */
int opts_parse_mac(const char *s, uint8_t mac[OPT_MAC_LEN]);

/* "512M", "1G", "65536K", or a bare number of MiB. -EINVAL otherwise. */
int opts_parse_size(const char *s, uint64_t *bytes);

#endif /* AGENTBOX_OPTIONS_H */
