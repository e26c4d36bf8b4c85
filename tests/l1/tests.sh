# The loader's tests, run inside the L1 VM (tests/loader-l1.test) as its job.
# /dev/kvm here is nested SVM under QEMU TCG, so every L2 below is a real
# KVM guest of the agentbox loader. Prints one PASS/FAIL line per case,
# then, when the harness asked for the benchmark, its "bench:" lines.
suite=loader-l1
job=/job
failures=0

pass() { echo "PASS: $suite: $1"; }
fail() {
	echo "FAIL: $suite: $1: $2"
	failures=$((failures + 1))
	[ -z "$3" ] || tail -n 15 "$3" | sed 's/^/  l2: /'
}

# l2 NAME SECONDS JOBDISK [agentbox run options...]: boot the guest image as
# an L2; its console goes to /tmp/NAME.log, the loader's status to $rc.
# Now and then (a few times in a hundred boots with dockerd, more under
# load) an L2 triple-faults under this L1, with nothing on its console
# before; the same happened once to an L1 under TCG, which runs none of
# our code. Such a boot (status 122) is run once more and says so; a
# second one fails the case.
l2() {
	name=$1 seconds=$2 jobdisk=$3
	shift 3
	log=/tmp/$name.log
	once_more_if_reset "$name" l2_once "$@"
}

# keep_reset NAME VERB: say that the L2 NAME triple-faulted and is VERB
# once more (tests/loader-l1.test shows these lines), and keep its console
# and stderr as NAME.reset.*.
keep_reset() {
	echo "# $1: the L2 triple-faulted; $2 it once more"
	for f in log err; do
		[ ! -e "/tmp/$1.$f" ] || cp "/tmp/$1.$f" "/tmp/$1.reset.$f"
	done
}

# once_more_if_reset NAME CMD...: CMD runs the L2 NAME and sets $rc; a
# triple fault (122) runs CMD once more, through keep_reset.
once_more_if_reset() {
	reset_name=$1
	shift
	"$@"
	[ $rc -eq 122 ] || return 0
	keep_reset "$reset_name" running
	"$@"
}

l2_once() {
	timeout -s KILL "$seconds" "$job/agentbox" run --console "$log" \
		--disk /dev/vda,ro --disk "$job/$jobdisk,ro" \
		--cmdline "agentbox.job=/dev/vdb $L2_CMDLINE" "$@" 2>"/tmp/$name.err"
	rc=$?
	cat "/tmp/$name.err" >>"$log"
}

if [ -c /dev/kvm ]; then
	pass "L1 has /dev/kvm (nested SVM)"
else
	fail "L1 has /dev/kvm (nested SVM)" "no /dev/kvm; kvm_amd did not load"
	exit 1
fi

# An L1 whose kernel does not know its TSC rate never enters an L2 at all
# (KVM_RUN spins before the first guest instruction, whatever the guest;
# tests/loader-l1.test passes tsc_early_khz= for this). A one-instruction
# guest tells such a boot apart in seconds. Status 99 means exactly that.
timeout -s KILL 60 "$job/agentbox" run --kernel "$job/exit42.elf" --mem 64M >/tmp/probe.log 2>&1
if [ $? -ne 42 ]; then
	echo "agentbox-l1: this L1 cannot enter an L2"
	exit 99
fi
pass "a guest's write to port 0xf4 is the exit status (42)"

# The cases come in steps. The host reruns a stalled L1 (see
# tests/loader-l1.test) with the steps already done listed in
# $job/steps-done, which are then skipped.
step() {
	if grep -qx "$1" "$job/steps-done" 2>/dev/null; then
		return
	fi
	# make test-loader STEPS="..." runs only those (for development).
	if [ -s "$job/steps-only" ] && ! grep -qx "$1" "$job/steps-only"; then
		return
	fi
	echo "STEP-BEGIN: $1"
	"step_$1"
	echo "STEP-DONE: $1"
}

# The host takes a silent console for a stalled L1: say it is alive.
(while sleep 20; do echo "l1: alive at $(cut -d' ' -f1 /proc/uptime) s"; done) &

step_boot() {
	L2_CMDLINE=agentbox.docker=0
	l2 vmlinux 300 poweroff.ext4 --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" --mem 512M
	if [ $rc -eq 0 ] && grep -q 'phase=rootfs' "$log" && grep -q 'power off, status 0' "$log"; then
		pass "ELF vmlinux boots to init and powers off with status 0"
	else
		fail "ELF vmlinux boots to init and powers off with status 0" "status $rc" "$log"
	fi
	if grep -q 'boot phase init at' "$log" && grep -q 'boot phase rootfs at' "$log"; then
		pass "the boot timer logs the init's phases"
	else
		fail "the boot timer logs the init's phases" "no 'boot phase' lines" "$log"
	fi

	l2 bzimage 300 poweroff.ext4 --kernel "$job/bzImage" --initrd "$job/initramfs.cpio" --mem 512M --cpus 2
	if [ $rc -eq 0 ] && grep -q 'phase=rootfs' "$log"; then
		pass "bzImage boots to init with 2 vCPUs"
	else
		fail "bzImage boots to init with 2 vCPUs" "status $rc" "$log"
	fi
}

step_status() {
	L2_CMDLINE=agentbox.docker=0
	l2 status 300 status7.ext4 --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" --mem 512M
	if [ $rc -eq 7 ]; then
		pass "a job's exit status becomes the loader's"
	else
		fail "a job's exit status becomes the loader's" "status $rc, expected 7" "$log"
	fi
}

step_triple_fault() {
	name=triple-fault seconds=120 jobdisk=poweroff.ext4 log=/tmp/triple-fault.log
	l2_once --kernel "$job/triple-fault.elf" --mem 64M
	if [ $rc -eq 122 ] && grep -qi 'triple fault\|reset' "$log" && grep -qi 'rip' "$log"; then
		pass "a triple fault exits 122 with registers"
	else
		fail "a triple fault exits 122 with registers" "status $rc" "$log"
	fi
}

# SIGTERM: the loader asks the guest over its console, the init stops
# cleanly. The watchdog turns a loader that ignores it into a failure.
step_sigterm() {
	log=/tmp/sigterm.log
	"$job/agentbox" run --console "$log" --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" \
		--disk /dev/vda,ro --mem 512M --cmdline agentbox.docker=0 2>>/tmp/sigterm.err &
	pid=$!
	i=0
	while ! grep -q 'phase=rootfs' "$log" 2>/dev/null && [ $i -lt 300 ]; do sleep 1; i=$((i + 1)); done
	kill -TERM $pid
	(sleep 120 && kill -KILL $pid) 2>/dev/null &
	watchdog=$!
	wait $pid
	rc=$?
	kill $watchdog 2>/dev/null
	if [ $rc -eq 0 ] && grep -q 'poweroff requested on the console' "$log"; then
		pass "SIGTERM powers the guest off cleanly, status 0"
	else
		fail "SIGTERM powers the guest off cleanly, status 0" "status $rc" "$log"
	fi
}

step_docker() {
	L2_CMDLINE=
	l2 docker 1500 docker.ext4 --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" --mem 1G --cpus 2
	if grep -q 'phase=dockerd-ready' "$log"; then
		pass "dockerd becomes ready in the L2"
	else
		fail "dockerd becomes ready in the L2" "status $rc" "$log"
	fi
	if [ $rc -eq 0 ] && grep -q 'hello from an L2 container' "$log"; then
		pass "docker run works inside the L2"
	else
		fail "docker run works inside the L2" "status $rc" "$log"
	fi
}

step_vsock() {
	. "$job/vsock-check.sh"
}

step_agent() {
	. "$job/agent-check.sh"
}

step_net() {
	. "$job/net-check.sh"
}

step_hardening() {
	. "$job/hardening-check.sh"
}

step_attack() {
	. "$job/attack-check.sh"
}

step_snapshot() {
	. "$job/snapshot-check.sh"
	. "$job/isolation-check.sh"
	. "$job/snapshot-stress.sh"
}

step boot
step status
step triple_fault
step sigterm
step docker
step vsock
step agent
step net
step hardening
step attack
step snapshot

# The benchmark, when make bench-loader puts $job/bench there: the same
# guest (vmlinux, initramfs, this rootfs read-only,
# one vCPU, a disk and an rng device) under agentbox and under QEMU
# microvm, both on this /dev/kvm, both timed and measured by boot-meter
# from launch to dockerd-ready. They alternate, so neither always gets the
# page cache the other warmed. Prints numbers; asserts nothing.
step_bench() {
	bench_mem=1024 bench_runs=3
	q=$job/qemu
	echo "bench: setup vmlinux + initramfs + rootfs (read-only), 1 vCPU, $bench_mem MiB, virtio-blk + virtio-rng"
	bench_agentbox() {
		"$job/boot-meter" $bench_mem 900 "$1" "$job/agentbox" run \
			--kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" --disk /dev/vda,ro \
			--mem ${bench_mem}M --cpus 1 </dev/null
	}
	# The machine and the command line are tools/run-qemu's under KVM; QEMU
	# adds the virtio_mmio.device= arguments itself, as agentbox does.
	bench_qemu() {
		"$job/boot-meter" $bench_mem 900 "$1" \
			"$q/lib/ld-linux-x86-64.so.2" --library-path "$q/lib" "$q/qemu-system-x86_64" -L "$q/share" \
			-M microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off -accel kvm -cpu host \
			-m ${bench_mem}M -smp 1 -nodefaults -no-user-config -display none -no-reboot \
			-device isa-debug-exit,iobase=0xf4,iosize=1 \
			-kernel "$job/vmlinux" -initrd "$job/initramfs.cpio" \
			-drive id=root,file=/dev/vda,format=raw,if=none,readonly=on \
			-device virtio-blk-device,drive=root -device virtio-rng-device \
			-append "console=ttyS0 reboot=t panic=-1 acpi=off" -serial stdio </dev/null
	}
	# Where the guest time went: each phase's t=, and when the kernel's
	# random pool was ready (dockerd's first getrandom waits for it).
	bench_phases() {
		sed -n 's/^agentbox: phase=\([a-z-]*\) t=\([0-9.]*\).*/\1=\2/p
			s/^\[ *\([0-9.]*\)\] random: crng init done.*/crng=\1/p' "$1" | tr '\n' ' '
	}
	# The kernel's longest silences before it runs the init, each with the
	# line that ended it: a VMM that is slow at one step shows there every
	# run, a host that stalled the L1 anywhere, once.
	bench_gaps() {
		awk '/^\[ *[0-9]+\.[0-9]+\] / {
			t = substr($0, 2, index($0, "]") - 2) + 0
			if (seen)
				printf "%.3f %s\n", t - last, substr($0, 1, 90)
			seen = 1
			last = t
		}
		/Run \/init as init process/ { exit }' "$1" | sort -rn | head -n 3
	}
	i=1
	while [ $i -le $bench_runs ]; do
		for vmm in agentbox qemu; do
			log=/tmp/bench-$vmm-$i.log
			# A dockerd that dies before it is ready is restarted by the init:
			# that run's dockerd-ready is late by a whole start.
			echo "bench: $vmm $("bench_$vmm" "$log") dockerd_starts=$(grep -c '^agentbox: phase=dockerd-start' "$log")"
			echo "bench-phases: $vmm $i $(bench_phases "$log")"
			bench_gaps "$log" | sed "s/^/bench-gap: $vmm $i +/"
		done
		i=$((i + 1))
	done
}
# The exec benchmark: agentboxd against QEMU's guest agent.
step_bench_exec() {
	. "$job/qga-bench.sh"
}
if [ -e "$job/bench" ]; then
	step bench
	step bench_exec
fi

# Every L2's whole console, for the host to keep: the third disk
# tests/loader-l1.test attaches is empty ext4 for them.
if mkdir -p /tmp/keep && mount -t ext4 /dev/vdc /tmp/keep; then
	mkdir -p /tmp/keep/loader-l1 && cp /tmp/*.log /tmp/*.err /tmp/keep/loader-l1/ 2>/dev/null
	umount /tmp/keep
else
	echo "loader-l1: cannot mount /dev/vdc; the L2 consoles are lost"
fi
exit $failures
