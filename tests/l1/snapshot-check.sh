# Snapshots and restores of a real L2 with Docker, sourced by
# tests/l1/tests.sh inside the L1 (it uses that script's pass, fail and
# $job). The template is taken at dockerd-ready; its first restore
# imports a busybox image and is snapshotted again through its control
# socket, and that second snapshot is what the clones, the crash test and
# the busy-stream test restore. The state file goes back to the host
# (tests/loader-l1.test) for the truncation and bit-flip tests, which
# need no KVM.
# shellcheck shell=sh
: "${job:=/job}"
snap_tmpl=/tmp/snap-template
snap_warm=/tmp/snap-warm
snap_import='mkdir -p /tmp/img/bin && cp /usr/bin/busybox /tmp/img/bin/ && tar -C /tmp/img -c . | docker import - l2 >/dev/null'
snap_run='docker run --rm --network none l2 /bin/busybox echo hello from a restored container'

# restore NAME DIR [options]: a clone in the background; its console is
# /tmp/NAME.log, its agent vsock:/tmp/NAME.sock, its control socket
# /tmp/NAME.ctl, its pid $restored. The last NAME's stderr goes first:
# restored_ok, reading it before the new loader has truncated it, would
# take its "restored from" for this one's.
restore() {
	name=$1 dir=$2
	shift 2
	rm -f "/tmp/$name.sock" "/tmp/$name.ctl" "/tmp/$name.err"
	"$job/agentbox" restore "$dir" --vsock "/tmp/$name.sock" --control "/tmp/$name.ctl" \
		--console "/tmp/$name.log" --timings "$@" 2>"/tmp/$name.err" &
	restored=$!
}

# finish PID NAME: stop a clone through its control socket, or kill it.
finish() {
	"$job/agentbox" stop "/tmp/$2.ctl" >/dev/null 2>&1 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# restore_many PREFIX N DIR: clones PREFIX1..PREFIXN at once; pids in $pids.
restore_many() {
	pids=""
	k=1
	while [ $k -le "$2" ]; do
		restore "$1$k" "$3"
		pids="$pids $restored"
		k=$((k + 1))
	done
}

# finish_many PREFIX: stop the clones restore_many started.
finish_many() {
	k=1
	for pid in $pids; do
		finish "$pid" "$1$k"
		k=$((k + 1))
	done
}

# in NAME CMD: run CMD in the clone's guest through its agent.
in_clone() {
	timeout -s KILL 300 "$job/agentbox" exec "vsock:/tmp/$1.sock" -- sh -c "$2"
}

# restored NAME: the restore printed that the agent took its fix-up (a
# loader that failed says "error:" and is not waited for).
# sh has no locals: its counter must not be a caller's i.
restored_ok() {
	restored_waited=0
	while [ $restored_waited -lt 120 ] && ! grep -q 'restored from\|error:' "/tmp/$1.err" 2>/dev/null; do
		sleep 1
		restored_waited=$((restored_waited + 1))
	done
	grep -q 'restored from' "/tmp/$1.err"
}

rm -rf "$snap_tmpl" "$snap_warm"
timeout -s KILL 1500 "$job/agentbox" run --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" \
	--disk /dev/vda,ro --mem 512M --vsock /tmp/template.sock \
	--snapshot-when-ready "$snap_tmpl" --console /tmp/template.log 2>/tmp/template.err
rc=$?
if [ $rc -eq 0 ] && [ -f "$snap_tmpl/state" ] && grep -q 'snapshot written to' /tmp/template.err; then
	pass "snapshot: --snapshot-when-ready writes a template at dockerd-ready and exits 0"
else
	fail "snapshot: --snapshot-when-ready writes a template at dockerd-ready and exits 0" "status $rc" /tmp/template.err
fi

restore first "$snap_tmpl"
first=$restored
if restored_ok first && in_clone first "$snap_import && $snap_run" >/tmp/first.out 2>&1 &&
	grep -q 'hello from a restored container' /tmp/first.out &&
	! grep -q 'phase=dockerd-start' /tmp/first.log; then
	pass "restore: the template runs a container at once, without restarting dockerd"
else
	fail "restore: the template runs a container at once, without restarting dockerd" \
		"$(tail -n 3 /tmp/first.out | tr '\n' ' ')" /tmp/first.err
fi

# The guest's clock was frozen in the template for minutes; the agent's
# fix-up sets it from the host.
before=$(date +%s)
guest=$(in_clone first 'date +%s')
after=$(date +%s)
if [ -n "$guest" ] && [ "$guest" -ge $((before - 1)) ] && [ "$guest" -le $((after + 1)) ]; then
	pass "restore: the guest's clock is within 1 s of the host's"
else
	fail "restore: the guest's clock is within 1 s of the host's" "host $before..$after, guest '$guest'" /tmp/first.log
fi

ctl=/tmp/first.ctl
if "$job/agentbox" pause "$ctl" >/tmp/ctl.out 2>&1 &&
	! timeout -s KILL 5 "$job/agentbox" exec "vsock:/tmp/first.sock" -- true 2>/dev/null &&
	"$job/agentbox" resume "$ctl" >>/tmp/ctl.out 2>&1 &&
	in_clone first true &&
	"$job/agentbox" snapshot "$ctl" "$snap_warm" >>/tmp/ctl.out 2>&1 &&
	in_clone first true; then
	pass "control: pause stops the guest, resume and snapshot leave it running"
else
	fail "control: pause stops the guest, resume and snapshot leave it running" "$(tr '\n' ' ' </tmp/ctl.out)" /tmp/first.err
fi
finish "$first" first

# A memory file shorter than the state file records.
rm -rf /tmp/snap-short && cp -a "$snap_warm" /tmp/snap-short
mem=$(ls /tmp/snap-short/memory.*)
truncate -s $(($(stat -c %s "$mem") - 4096)) "$mem"
timeout -s KILL 120 "$job/agentbox" restore /tmp/snap-short --vsock /tmp/short.sock --console /tmp/short.log 2>/tmp/short.err
rc=$?
if [ $rc -eq 125 ] && grep -q 'truncated or replaced' /tmp/short.err && [ ! -s /tmp/short.log ]; then
	pass "restore: a memory file shorter than recorded is refused"
else
	fail "restore: a memory file shorter than recorded is refused" "status $rc" /tmp/short.err
fi

# Another disk in place of the snapshot's rootfs.
timeout -s KILL 120 "$job/agentbox" restore "$snap_warm" --disk /dev/vdb,ro --vsock /tmp/other.sock --console /tmp/other.log 2>/tmp/other.err
rc=$?
if [ $rc -eq 125 ] && grep -q 'not the disk the snapshot was taken with' /tmp/other.err && [ ! -s /tmp/other.log ]; then
	pass "restore: another disk than the snapshot's is refused"
else
	fail "restore: another disk than the snapshot's is refused" "status $rc" /tmp/other.err
fi

# For the host's truncation and bit-flip tests.
cp "$snap_warm/state" /tmp/snapshot-state.log

# The benchmark (make bench-loader): restore against the cold boot the
# bench step measures, each restore phase from --timings, memory per
# clone, and what the snapshot costs on disk. Prints; asserts nothing.
# Busybox's date has no %N: the L1's uptime is the clock, in ms (its
# resolution is 10 ms, so short things are timed in batches).
now_ms() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}
snap_ms() {
	sed -n "s/^agentbox: *$1 *\([0-9.]*\).*/\1/p" "$2" | head -n1
}
if [ -e "$job/bench" ]; then
	du_k=$(du -k "$snap_warm"/memory.* | cut -f1)
	echo "bench-snap: memory file ${du_k} KiB on disk for 512 MiB of guest RAM; state file $(wc -c <"$snap_warm/state") bytes"
	n=1
	while [ $n -le 3 ]; do
		t0=$(now_ms)
		restore bench "$snap_warm"
		bench=$restored
		restored_ok bench
		t1=$(now_ms)
		in_clone bench 'echo first' >/dev/null
		t2=$(now_ms)
		finish "$bench" bench
		echo "bench-snap: restore $n: to agent ready $((t1 - t0)) ms wall (loader's own $(snap_ms 'agent ready' /tmp/bench.err) ms), to first exec output $((t2 - t0)) ms"
		grep -E '^agentbox:   ' /tmp/bench.err | sed "s/^agentbox: */bench-snap:   phase /"
		n=$((n + 1))
	done
	. "$job/hardening-bench.sh"
	# Host memory per clone, 20 clones of the 512 MiB guest at once, each
	# having run a container (in turn: see snapshot-stress.sh): Rss counts the shared page cache of the memory
	# file in full for each, Pss splits it among the clones; the L1's
	# MemAvailable drop is what they cost together.
	avail0=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
	restore_many mem 20 "$snap_warm"
	i=1 up=0
	for pid in $pids; do
		if restored_ok "mem$i" && in_clone "mem$i" "$snap_run" >"/tmp/mem$i.out" 2>&1 &&
			grep -q 'hello from a restored container' "/tmp/mem$i.out"; then
			up=$((up + 1))
		else
			echo "bench-snap: clone mem$i ran no container: $(tail -n 2 "/tmp/mem$i.out" | tr '\n' ' ')"
		fi
		i=$((i + 1))
	done
	avail1=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
	echo "bench-snap: 20 clones of a 512 MiB guest at once: $up ran a container; the L1 lost $(((avail0 - avail1) / 1024)) MiB of MemAvailable, $(((avail0 - avail1) / 20 / 1024)) MiB per clone"
	for pid in $pids; do
		echo "bench-snap: clone $pid: $(grep -E '^(Rss|Pss):' "/proc/$pid/smaps_rollup" | tr -s ' ' | tr '\n' ' ')"
	done
	finish_many mem
fi
