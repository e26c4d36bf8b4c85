/*
 * The system call filter the VMM runs under from the guest's first
 * instruction on. A guest that escapes a device model lands in a process
 * that can run, supervise, pause and snapshot its VM and little else:
 * no new programs, no network sockets, no mounts, no ptrace, and only
 * the ioctls the run loop, pause and snapshot make.
 *
 * Named seccomp_filter.h because libseccomp's header is <seccomp.h> and
 * the loader's own directory comes first on the include path.
 */
#ifndef AGENTBOX_SECCOMP_FILTER_H
#define AGENTBOX_SECCOMP_FILTER_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The exit status of a VMM that made a forbidden call, after its one
 * log line: distinct from the guest's statuses and the VMM's own.
 */
#define SECCOMP_FILTER_STATUS	121

/* Longest line seccomp_filter_message() writes. */
#define SECCOMP_FILTER_MSG_MAX	128

/*
 * Load the filter into every thread of the process (the ones that run
 * already and, by inheritance, the ones created later). Sets
 * no_new_privs. 0 or -errno with the reason in why.
 */
int seccomp_filter_install(char *why, size_t why_size);

/*
 * The line the SIGSYS handler writes for system call nr, newline
 * included: "agentbox: error: seccomp: forbidden system call 41
 * (socket)\n". Async-signal-safe; names are known once a filter was
 * installed (or seccomp_filter_load_names() ran), numbers always.
 * Returns the length, at most size - 1; buf is NUL-terminated.
 */
size_t seccomp_filter_message(char *buf, size_t size, long nr, bool native);

/* Resolve the native system call names the message uses. */
void seccomp_filter_load_names(void);

/*
 * Whether the filter lets ioctl request req through: the table the
 * filter is built from, for tests.
 */
bool seccomp_filter_allows_ioctl(unsigned long req);

#endif /* AGENTBOX_SECCOMP_FILTER_H */
