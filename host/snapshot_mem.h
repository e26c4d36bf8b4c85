/*
 * A snapshot's memory file: guest RAM as one flat image, as long as the
 * RAM, with every page that is all zeros (or, for anonymous RAM, that the
 * guest never touched) left as a hole, so the file costs what the guest
 * used and a restore maps it straight back (vm_setup_memory).
 */
#ifndef AGENTBOX_SNAPSHOT_MEM_H
#define AGENTBOX_SNAPSHOT_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

/* Write the RAM of a paused vm to the empty file fd; *stored: data bytes. */
int snap_mem_write(const struct vm *vm, int fd, uint64_t *stored, char *why,
		   size_t why_size);

/* Open path for a restore, refusing a file that is not exactly size long. */
int snap_mem_open(const char *path, uint64_t size, int *fd, char *why,
		  size_t why_size);

#endif /* AGENTBOX_SNAPSHOT_MEM_H */
