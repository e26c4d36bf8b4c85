/*
 * --jail DIR --uid N --gid N: the VMM in a directory of its own, as an
 * unprivileged user, in the manner of Firecracker's jailer.
 *
 * /dev/kvm is opened first, then the process takes a mount namespace
 * whose root is DIR (bound onto itself and pivoted into; the old root
 * is detached, not just hidden), drops to the ids, and gives up what it
 * inherited: supplementary groups, the environment, file descriptors
 * above 2, and any way to gain privileges again (no_new_privs). Every
 * path the loader opens afterwards is resolved inside DIR, so the caller
 * puts the kernel, initrd, disks and socket directories there first.
 */
#ifndef AGENTBOX_JAIL_H
#define AGENTBOX_JAIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Open files a jailed VMM may hold: stdio, /dev/kvm, the VM, one per
 * vCPU (254 at most), every disk and its restore clone, 64 vsock
 * connections and their listener, and a margin for the console,
 * signalfd, eventfds, control clients and a snapshot's files.
 */
#define JAIL_NOFILE		512
/* Beyond the largest of guest RAM and the disks: state file, console. */
#define JAIL_FSIZE_SLACK	(64ULL << 20)

/*
 * What can be checked before anything is opened: dir exists and is a
 * directory, and we are root (a mount namespace and other ids need it).
 * 0 or -errno with "--jail DIR: reason" in why.
 */
int jail_check(const char *dir, char *why, size_t why_size);

/*
 * Close every fd above 2 except keep_fd (-1: none). Done before
 * anything of ours is open, so only inherited fds go.
 */
int jail_close_fds(int keep_fd);

/*
 * Make dir the root of a new mount namespace, become uid:gid with no
 * supplementary groups, set no_new_privs, clear the environment and
 * bound the number of open files. 0 or -errno with the reason in why.
 */
int jail_enter(const char *dir, uint32_t uid, uint32_t gid, char *why,
	       size_t why_size);

/*
 * The largest file the VMM needs to write: a snapshot's memory file
 * (ram bytes) or disk copy (the largest disk), plus the slack.
 */
uint64_t jail_file_limit(uint64_t ram, const uint64_t *disk_bytes,
			 unsigned int nr_disks);

/*
 * Bound file sizes to limit. Writing past it fails with EFBIG rather
 * than killing the VMM with SIGXFSZ.
 */
int jail_limit_files(uint64_t limit, char *why, size_t why_size);

#endif /* AGENTBOX_JAIL_H */
