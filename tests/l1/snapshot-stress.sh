# The snapshot stress cases, sourced after tests/l1/snapshot-check.sh
# and isolation-check.sh, whose helpers and warm snapshot they use: ten
# clones at once, a snapshot during a busy exec stream, and fifty kill -9s
# of a loader writing a snapshot.
# shellcheck shell=sh
# shellcheck disable=SC2154 # snap_warm, snap_run and the helpers are snapshot-check.sh's (keep_reset is tests.sh's)
: "${job:=/job}"
# Ten clones of one snapshot, resumed at the same moment and all alive
# together; none shares the random state of another, and each runs a
# container, one after the other. (With the ten containers started at
# once, one to five clones triple-faulted in this nested TCG setup.) A
# clone that triple-faults is restored once more, as tests.sh's l2 does
# for a boot, and the output says so; its replacement runs beside the
# others still alive.
# The L1's /tmp is RAM: snapshot-check.sh's other snapshots make room.
rm -rf /tmp/snap-short "$snap_tmpl"
restore_many clone 10 "$snap_warm"
echo "snapshot: 10 clones restoring"
: >/tmp/clones.rand

# clone_runs K: clone K answers with its uuid and urandom bytes and runs
# its container.
clone_runs() {
	restored_ok "clone$1" &&
		in_clone "clone$1" "cat /proc/sys/kernel/random/uuid; head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; $snap_run" >"/tmp/clone$1.out" 2>&1 &&
		grep -q 'hello from a restored container' "/tmp/clone$1.out"
}

k=1
for _ in $pids; do
	if ! clone_runs $k && grep -q KVM_EXIT_SHUTDOWN "/tmp/clone$k.err"; then
		keep_reset "clone$k" restoring
		restore "clone$k" "$snap_warm"
		pids="$pids $restored"
		clone_runs $k
	fi
	if grep -q 'hello from a restored container' "/tmp/clone$k.out" 2>/dev/null; then
		head -n 2 "/tmp/clone$k.out" >>/tmp/clones.rand
		echo "snapshot: clone $k ran its container"
	else
		echo "snapshot: clone $k failed; its loader said:"
		grep -av '^agentbox:   ' "/tmp/clone$k.err" | head -n 30 | sed 's/^/  l2: /'
	fi
	k=$((k + 1))
done
ok=$(($(wc -l </tmp/clones.rand) / 2))
distinct=$(sort -u /tmp/clones.rand | wc -l)
if [ $ok -eq 10 ] && [ "$distinct" -eq 20 ]; then
	pass "restore: 10 clones at once each run a container, with distinct uuid and urandom"
else
	fail "restore: 10 clones at once each run a container, with distinct uuid and urandom" \
		"$ok of 10 ran, $distinct of 20 random values distinct" /tmp/clone1.err
fi
finish_many clone

# A snapshot in the middle of a busy exec stream: the restore's agent works.
restore busy "$snap_warm"
busy=$restored
restored_ok busy
timeout -s KILL 120 "$job/agentbox" exec vsock:/tmp/busy.sock -- cat /dev/zero >/dev/null 2>&1 &
stream=$!
sleep 3
"$job/agentbox" snapshot /tmp/busy.ctl /tmp/snap-busy >/tmp/busy-snap.out 2>&1
snap_rc=$?
kill -KILL $stream 2>/dev/null
finish "$busy" busy
restore busy2 /tmp/snap-busy
busy2=$restored
if [ $snap_rc -eq 0 ] && restored_ok busy2 && [ "$(in_clone busy2 'echo agent ok')" = "agent ok" ]; then
	pass "restore: a snapshot taken during a busy exec stream restores to a working agent"
else
	fail "restore: a snapshot taken during a busy exec stream restores to a working agent" \
		"snapshot status $snap_rc: $(cat /tmp/busy-snap.out)" /tmp/busy2.err
fi
finish "$busy2" busy2
rm -rf /tmp/snap-busy

# kill -9 of the loader while it writes a snapshot, 50 times at random
# moments: each next restore of the same directory shows the snapshot
# there is still whole. It works on the warm snapshot itself, last: a
# copy would not fit the L1's /tmp, which is RAM (a busybox cp of the
# snapshot ran out of room there and left a short memory file).
#
# where_stuck PID: each thread of PID, its state, the system call it is
# in (number first) and its kernel wait channel.
where_stuck() {
	for t in /proc/"$1"/task/*; do
		echo "thread $(cat "$t/comm") $(cut -d' ' -f3 "$t/stat") syscall $(cut -d' ' -f1-3 "$t/syscall") wchan $(cat "$t/wchan")"
	done 2>/dev/null
}
#
# restore_crash: the clone "crash" from the warm snapshot, its agent
# ready. One that triple-faults is restored once more, as elsewhere, and
# says so; one that fails otherwise is stopped, and what its loader said
# and the directory's files go to the output (and crash-broken.*).
restore_crash() {
	restore crash "$snap_warm"
	crash=$restored
	restored_ok crash && return 0
	if grep -q KVM_EXIT_SHUTDOWN /tmp/crash.err; then
		wait "$crash" 2>/dev/null
		keep_reset crash restoring
		restore crash "$snap_warm"
		crash=$restored
		restored_ok crash && return 0
	fi
	where_stuck "$crash" >/tmp/crash-stuck.txt
	kill -KILL "$crash" 2>/dev/null
	wait "$crash" 2>/dev/null
	cp /tmp/crash.err /tmp/crash-broken.err
	cp /tmp/crash.log /tmp/crash-broken.log
	echo "snapshot: the restore after $crashes kills failed; its loader said:"
	grep -av '^agentbox:   ' /tmp/crash.err | tail -n 20 | sed 's/^/  l2: /'
	sed 's/^/  l1: /' /tmp/crash-stuck.txt
	ls -l "$snap_warm" | sed 's/^/  l1: /'
	return 1
}

crashes=0
n=1
while [ $n -le 50 ]; do
	if ! restore_crash; then
		break
	fi
	"$job/agentbox" snapshot /tmp/crash.ctl "$snap_warm" >/dev/null 2>&1 &
	client=$!
	sleep "0.$(od -An -N2 -tu2 /dev/urandom | tr -d ' ' | cut -c1-2)"
	kill -KILL "$crash"
	wait "$crash" "$client" 2>/dev/null
	crashes=$((crashes + 1))
	[ $((n % 10)) -ne 0 ] || echo "snapshot: $n kills so far"
	n=$((n + 1))
done
run_rc=none
if restore_crash; then
	in_clone crash "$snap_run" >/tmp/crash-run.log 2>&1
	run_rc=$?
fi
if [ $crashes -eq 50 ] && [ "$run_rc" = 0 ] && grep -q 'hello from a restored container' /tmp/crash-run.log; then
	pass "snapshot: kill -9 during snapshot, 50 times: the directory always restores"
else
	# What the guest's Docker says of itself, for the log.
	in_clone crash 'docker ps -a; tail -n 20 /run/dockerd.log; tail -n 5 /run/agentboxd.log' >>/tmp/crash-run.log 2>&1
	fail "snapshot: kill -9 during snapshot, 50 times: the directory always restores" \
		"$crashes of 50 kills were followed by a working restore; the final docker run's status: $run_rc; it said" /tmp/crash-run.log
	df -k /tmp | sed 's/^/  l1: /'
fi
# Each snapshot removes what killed ones left, so 50 kills leave at most
# the last one's memory file beside the committed one's.
generations=0
for f in "$snap_warm"/memory.*; do
	[ ! -e "$f" ] || generations=$((generations + 1))
done
if [ "$generations" -le 2 ]; then
	pass "snapshot: after 50 killed snapshots the directory holds at most one dead generation"
else
	fail "snapshot: after 50 killed snapshots the directory holds at most one dead generation" \
		"$generations memory files: $(ls -s "$snap_warm" | tr '\n' ' ')"
fi
finish "$crash" crash
