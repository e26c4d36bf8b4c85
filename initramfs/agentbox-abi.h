/*
 * The contract between the guest init and the VMM that runs it (the agentbox
 * loader, or QEMU with isa-debug-exit). Both sides include this header.
 */
#ifndef AGENTBOX_ABI_H
#define AGENTBOX_ABI_H

/*
 * The init writes the VM's exit status to this I/O port as its last act.
 * QEMU's isa-debug-exit at this port exits with (status << 1) | 1.
 */
#define EXIT_PORT 0xf4

/* VM exit statuses chosen by the init (a job's own status passes through). */
#define EXIT_POWEROFF 0
#define EXIT_INIT_FAILED 121

/*
 * The guest agent (guest-agent/PROTOCOL.md) listens on this vsock port; the
 * init creates DOCKERD_READY_FILE once dockerd's API answers and removes it
 * when dockerd exits, which is what the agent's READY request waits for.
 */
#define AGENT_VSOCK_PORT 1024
#define AGENTBOX_RUN_DIR "/run/agentbox"
#define DOCKERD_READY_FILE AGENTBOX_RUN_DIR "/dockerd-ready"

/*
 * The cgroup of everything the sandbox runs for its user: dockerd puts its
 * containers under it and the agent its commands (initramfs/workload.h).
 */
#define WORKLOAD_CGROUP "/workload"
#define WORKLOAD_CGROUP_DIR "/sys/fs/cgroup" WORKLOAD_CGROUP

/* Values written to the boot-timer register, one per boot phase. */
enum boot_phase {
	PHASE_INIT = 1,
	PHASE_ROOTFS = 2,
	PHASE_DOCKERD_START = 3,
	PHASE_DOCKERD_READY = 4,
	PHASE_POWEROFF = 5,
	PHASE_CGROUPS = 6,
};

/* The name both sides print for a phase, or NULL for an unknown value. */
static inline const char *boot_phase_name(unsigned int phase)
{
	static const char *const names[] = {
		[PHASE_INIT] = "init",
		[PHASE_ROOTFS] = "rootfs",
		[PHASE_DOCKERD_START] = "dockerd-start",
		[PHASE_DOCKERD_READY] = "dockerd-ready",
		[PHASE_POWEROFF] = "poweroff",
		[PHASE_CGROUPS] = "cgroups",
	};

	if (phase >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[phase];
}

#endif
