/*
 * Messages from the VMM to stderr, each line prefixed "agentbox: " and
 * written with one write() so lines from vCPU threads never interleave.
 */
#ifndef AGENTBOX_LOG_H
#define AGENTBOX_LOG_H

#include "compiler.h"

/* "agentbox: error: ..." - the one line a failed run prints. */
__printf(1, 2) void pr_err(const char *fmt, ...);
/* "agentbox: warning: ..." - something went wrong but the run goes on. */
__printf(1, 2) void pr_warn(const char *fmt, ...);
/* "agentbox: ..." - progress and reports. */
__printf(1, 2) void pr_info(const char *fmt, ...);

/* Send messages to fd instead of stderr (fuzzers silence them). */
void log_set_fd(int fd);

/* Write a pre-formatted multi-line block (a register dump) in one go. */
void pr_block(const char *text);

#endif /* AGENTBOX_LOG_H */
