# The exec benchmark, sourced by tests/l1/tests.sh in bench mode (make
# bench-loader): the guest agent against its peer, QEMU's qemu-ga, both
# on this L1's /dev/kvm, in the same guest image with dockerd off.
#   agentboxd: the agentbox loader, vsock through its hybrid socket,
#              each exec a fresh `agentbox exec vsock:SOCK -- true`
#   qemu-ga:   QEMU microvm, a virtio-serial port, each exec a fresh
#              client doing guest-exec, then guest-exec-status until it
#              has exited (polled back to back: qemu-ga's best case)
# Both one-shot clients are timed alike by qga-bench, launch to exit. The
# qemu-ga client is a static C program, as small as ours. Also both on one
# long-lived connection (how libvirt drives qemu-ga; agent-loop for ours),
# exec stdout streaming
# (qemu-ga only returns captured output whole, base64 in one reply, up to
# 16 MiB) and file copies (guest-file-write/read, base64 in 1 MiB
# requests). Prints "bench:" lines for tests/loader-l1.test's table;
# asserts nothing.
# shellcheck shell=sh
# shellcheck disable=SC2154 # job belongs to tests.sh
: "${job:=/job}"
qb_runs=${qb_runs:-100}
qb_stream=8388608
qb_copy=16777216
qb_mem=512
# Overridable to try the qemu-ga half on a host under TCG (qb_which=qemu).
qb_accel=${qb_accel:--accel kvm -cpu host}
qb_root=${qb_root:-/dev/vda}
qb_qb=$job/qga-bench

# qb_ms2mibps BYTES MS
qb_ms2mibps() {
	awk -v b="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.1f", b / 1048576 / (ms / 1000); else print "?" }'
}

# The p50 of one timed run, in ms, of the command given.
qb_once_ms() {
	"$qb_qb" time 1 "$@" | sed -n 's/^p50_ms=\([0-9.]*\) .*/\1/p'
}

# qb_agentbox_up: boot the loader's VM; 0 once its agent answers.
qb_agentbox_up() {
	rm -f $sock
	timeout -s KILL 1800 "$job/agentbox" run --console /tmp/qb-agentbox.log \
		--kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" --disk "$qb_root",ro \
		--mem ${qb_mem}M --cpus 1 --cmdline agentbox.docker=0 --vsock $sock \
		2>>/tmp/qb-agentbox.log </dev/null &
	qb_vm=$!
	i=0
	until timeout -s KILL 30 "$job/agentbox" exec vsock:$sock -- true 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 300 ] || ! kill -0 $qb_vm 2>/dev/null; then
			echo "bench-exec: agentbox: no answer from the agent; $(tail -n 1 /tmp/qb-agentbox.log)"
			kill $qb_vm 2>/dev/null
			wait $qb_vm 2>/dev/null
			return 1
		fi
		sleep 1
	done
}

# An L2 here now and then triple-faults at boot (tests.sh's l2()): a
# second boot is allowed, as there.
qb_agentbox() {
	sock=/tmp/qb-agent.sock
	qb_agentbox_up || qb_agentbox_up || return
	lat=$("$qb_qb" time "$qb_runs" "$job/agentbox" exec vsock:$sock -- true)
	conn=$("$job/agent-loop" vsock:$sock "$qb_runs")
	ms=$(qb_once_ms sh -c "'$job/agentbox' exec vsock:$sock -- head -c $qb_stream /dev/zero >/dev/null")
	stream=$(qb_ms2mibps $qb_stream "$ms")
	ms=$(qb_once_ms "$job/agentbox" cp vsock:$sock /tmp/qb-file :/tmp/qb-file)
	put=$(qb_ms2mibps $qb_copy "$ms")
	ms=$(qb_once_ms "$job/agentbox" cp vsock:$sock :/tmp/qb-file /tmp/qb-back)
	get=$(qb_ms2mibps $qb_copy "$ms")
	cmp -s /tmp/qb-file /tmp/qb-back || get="?"
	echo "bench: agentbox $(echo "$lat" | sed 's/p50_ms=/exec_p50_ms=/; s/p99_ms=/exec_p99_ms=/') $(echo "$conn" | sed 's/p50_ms=/exec_conn_p50_ms=/; s/p99_ms=/exec_conn_p99_ms=/') stream_mibps=$stream put_mibps=$put get_mibps=$get exec_runs=$qb_runs"
	timeout -s KILL 60 "$job/agentbox" shutdown vsock:$sock >/dev/null 2>&1
	qb_stop
}

# Gives the VM a minute to power off, then kills it.
qb_stop() {
	i=0
	while kill -0 $qb_vm 2>/dev/null && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
	kill -KILL $qb_vm 2>/dev/null
	wait $qb_vm 2>/dev/null
}

# qb_qemu_up: boot QEMU's VM with qemu-ga; 0 once it answers.
qb_qemu_up() {
	q=$job/qemu
	rm -f $sock
	# shellcheck disable=SC2086 # qb_accel is several arguments
	timeout -s KILL 1800 "$q/lib/ld-linux-x86-64.so.2" --library-path "$q/lib" \
		"$q/qemu-system-x86_64" -L "$q/share" \
		-M microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off $qb_accel \
		-m ${qb_mem}M -smp 1 -nodefaults -no-user-config -display none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=1 \
		-kernel "$job/vmlinux" -initrd "$job/initramfs.cpio" \
		-drive id=root,file="$qb_root",format=raw,if=none,readonly=on \
		-device virtio-blk-device,drive=root \
		-device virtio-serial-device \
		-chardev socket,id=qga,path=$sock,server=on,wait=off \
		-device virtserialport,chardev=qga,name=org.qemu.guest_agent.0 \
		-append "console=ttyS0 reboot=t panic=-1 acpi=off agentbox.docker=0 agentbox.qga=1" \
		-serial file:/tmp/qb-qemu.log </dev/null 2>>/tmp/qb-qemu.err &
	qb_vm=$!
	i=0
	until "$qb_qb" wait $sock 5 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 60 ] || ! kill -0 $qb_vm 2>/dev/null; then
			echo "bench-exec: qemu-ga: no answer; $(tail -n 1 /tmp/qb-qemu.err)"
			kill $qb_vm 2>/dev/null
			wait $qb_vm 2>/dev/null
			return 1
		fi
	done
}

qb_qemu() {
	sock=/tmp/qb-qga.sock
	qb_qemu_up || qb_qemu_up || return
	lat=$("$qb_qb" time "$qb_runs" "$qb_qb" exec $sock /bin/true)
	conn=$("$qb_qb" loop $sock "$qb_runs" /bin/true)
	stream=$("$qb_qb" stream $sock $qb_stream | sed -n 's/^mibps=//p')
	put=$("$qb_qb" put $sock /tmp/qb-file /tmp/qb-file | sed -n 's/^mibps=//p')
	get=$("$qb_qb" get $sock /tmp/qb-file /tmp/qb-back | sed -n 's/^mibps=//p')
	cmp -s /tmp/qb-file /tmp/qb-back || get="?"
	echo "bench: qemu $(echo "$lat" | sed 's/p50_ms=/exec_p50_ms=/; s/p99_ms=/exec_p99_ms=/') $(echo "$conn" | sed 's/p50_ms=/exec_conn_p50_ms=/; s/p99_ms=/exec_conn_p99_ms=/') stream_mibps=${stream:-?} put_mibps=${put:-?} get_mibps=${get:-?} exec_runs=$qb_runs"
	kill $qb_vm
	qb_stop
}

head -c $qb_copy /dev/urandom >/tmp/qb-file
echo "bench: setup-exec $qb_runs execs of true each way, 1 vCPU, $qb_mem MiB, dockerd off; stdout $qb_stream bytes, files $qb_copy bytes"
for qb_vmm in ${qb_which:-agentbox qemu}; do
	"qb_$qb_vmm"
done
