/*
 * vCPUs: one thread each, running KVM_RUN and dispatching port I/O and
 * MMIO exits to the buses. Any exit that ends the run (power-off through
 * a device, reset, triple fault, KVM error, an exit we do not know) is
 * recorded in the shared struct stop; the main thread then kicks every
 * vCPU out of KVM_RUN with VCPU_KICK_SIGNAL and joins them.
 */
#ifndef AGENTBOX_VCPU_H
#define AGENTBOX_VCPU_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "bus.h"
#include "pause.h"
#include "stop.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL	SIGUSR1

struct vcpu_env {
	const struct bus *pio;
	const struct bus *mmio;
	struct stop *stop;
	struct pause *pause;
};

struct vcpu {
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	const struct vcpu_env *env;
};

/*
 * Install the kick handler. Call before any vCPU starts, with
 * VCPU_KICK_SIGNAL blocked in the calling thread (vCPU threads unblock it
 * for themselves).
 */
int vcpu_signals_init(void);

/* KVM_CREATE_VCPU and map its kvm_run. */
int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id,
		const struct vcpu_env *env, char *why, size_t why_size);

/*
 * CPUID, MSRs, LAPIC and FPU for every vCPU; long-mode registers at entry
 * for the boot vCPU only (the others wait for INIT/SIPI, which resets
 * them anyway).
 */
int vcpu_configure(struct vcpu *v, struct vm *vm, unsigned int nr_cpus,
		   uint64_t entry, char *why, size_t why_size);

int vcpu_start(struct vcpu *v);

/* Make the vCPU leave KVM_RUN; call after stop_request(). */
void vcpu_kick(struct vcpu *v);
/* Print the registers; only from the vCPU's thread or once it has joined. */
void vcpu_dump_regs(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

#endif /* AGENTBOX_VCPU_H */
