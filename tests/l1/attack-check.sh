# The loader under attack: a hostile guest (tests/l1/hostile-guest.c)
# floods the console, pokes every device register at random and feeds
# each virtqueue malformed rings; sourced by tests/l1/tests.sh inside the
# L1 (it uses that script's pass, fail and $job).
#
# What counts as surviving an attack: the loader ends the run by itself
# (no timeout kill, no signal: a status below 128), prints nothing a
# sanitizer or a crash would, and the run ends either with the status the
# guest wrote to port 0xf4 (it finished), or with the loader's own
# 122/123 and an "agentbox: error:" line saying why it stopped the guest.
# A device the guest broke only sets DEVICE_NEEDS_RESET and logs a
# warning; that is the expected answer to a malformed ring, which the
# guest checks itself and reports through its exit status (14: the loader
# served a malformed chain or a device did not come back after a reset).
# Meanwhile the loader's peak RSS must stay within guest RAM plus a few
# MiB, and a console flood within the console's 256 KiB buffer.
# shellcheck shell=sh
: "${job:=/job}"
attack_mem=128
attack_seed=1
# Each byte is an exit, 0.2-0.4 ms in this nested TCG L1: half a MiB
# overruns the pipe and the console buffer with room to spare.
attack_flood=$((512 << 10))
attack_all_flood=$((64 << 10))
attack_iters=100000
attack_rw=/tmp/attack-rw.img
attack_ro=/tmp/attack-ro.img
# The loader's own few MiB on top of the guest RAM it maps.
attack_slack_kib=8192
attack_console_kib=256

# A zeroed scratch disk, and a read-only one of 0xff bytes: data a
# device reads from it into a ring is never a plausible address.
dd if=/dev/zero of="$attack_rw" bs=1024 count=1024 2>/dev/null
dd if=/dev/zero bs=1024 count=1024 2>/dev/null | tr '\000' '\377' >"$attack_ro"

# attack_run NAME SECONDS CMDLINE [CONSOLE]: the hostile guest under the
# loader, with both disks, the rng and a vsock device. Its console goes to
# CONSOLE (default /tmp/NAME.log), stderr to /tmp/NAME.err; sets rc,
# attack_peak (the loader's peak RSS in KiB) and attack_secs. busybox
# timeout runs the loader in its own process, so $! is the loader and its
# VmHWM is what we sample; the loader's own getrusage figure (--timings)
# is preferred when it exits.
#
# Now and then an L2 triple-faults under this L1 with no fault of its own
# (tests.sh's l2 says more). The hostile guest reports its own faults
# (status 13), so a 122 is that: the run goes once more, and says so.
attack_run() {
	once_more_if_reset "$1" attack_run_once "$@"
}

attack_run_once() {
	name=$1
	rm -f /tmp/attack.sock /tmp/attack.sock_*
	t0=$(date +%s)
	timeout -s KILL "$2" "$job/agentbox" run --kernel "$job/hostile-guest.elf" \
		--mem "${attack_mem}M" --disk "$attack_rw" --disk "$attack_ro,ro" \
		--vsock /tmp/attack.sock --timings --console "${4:-/tmp/$name.log}" \
		--cmdline "$3 seed=$attack_seed" 2>"/tmp/$name.err" &
	pid=$!
	hwm=0
	while kill -0 $pid 2>/dev/null; do
		now=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		[ -n "$now" ] && [ "$now" -gt "$hwm" ] && hwm=$now
		sleep 0.2
	done
	wait $pid
	rc=$?
	attack_secs=$(($(date +%s) - t0))
	attack_peak=$(sed -n 's/^agentbox: peak RSS \([0-9]*\) KiB.*/\1/p' "/tmp/$name.err")
	[ -n "$attack_peak" ] || attack_peak=$hwm
}

# attack_survived NAME STATUS: the run ended as a survivor's would, with
# the guest's STATUS or a clean stop; the reason in attack_why if not.
attack_survived() {
	err=/tmp/$1.err
	if [ $rc -ge 124 ]; then
		attack_why="status $rc: killed by the watchdog or a signal, or never started"
	elif grep -qiE 'sanitizer|runtime error|segmentation|aborted|core dumped|stack smashing|double free|corrupted' "$err"; then
		attack_why="status $rc, with crash output: $(grep -m1 -iE 'sanitizer|runtime error|segmentation|aborted|core dumped|stack smashing|double free|corrupted' "$err")"
	elif [ $rc -eq "$2" ]; then
		attack_why="the guest finished with status $rc"
		return 0
	elif { [ $rc -eq 122 ] || [ $rc -eq 123 ]; } && grep -q '^agentbox: error: ' "$err"; then
		attack_why="the loader stopped the guest, status $rc: $(grep -m1 '^agentbox: error: ' "$err")"
		return 0
	else
		attack_why="status $rc, expected $2 or a clean stop"
	fi
	return 1
}

# attack_bounded: the peak RSS within guest RAM, the console buffer and
# the loader's slack.
attack_bounded() {
	limit=$((attack_mem * 1024 + attack_console_kib + attack_slack_kib))
	attack_why="peak RSS ${attack_peak:-?} KiB, limit $limit KiB (guest RAM ${attack_mem} MiB + console ${attack_console_kib} KiB + ${attack_slack_kib} KiB), ${attack_secs} s"
	[ -n "$attack_peak" ] && [ "$attack_peak" -gt 0 ] && [ "$attack_peak" -le $limit ]
}

# attack_tally NAME WHAT: the guest's own tally line, for the messages.
attack_tally() {
	grep -m1 "^hostile: $2: [0-9]* runs" "/tmp/$1.log" | sed 's/^hostile: //'
}

# The same guest, devices and RAM without the flood: the loader's
# resident memory the flood must not add to beyond the console buffer.
attack_run attack-quiet 300 "attack=serial flood=0"
attack_base=$attack_peak

# The flood goes to a console nobody reads: a FIFO held open by a process
# that never reads it. Its 64 KiB pipe fills, then the loader's 256 KiB
# buffer, and the rest must be dropped and counted; at the end the loader
# gives up on the stuck console after 2 s instead of waiting for it.
attack_fifo=/tmp/attack-console.fifo
rm -f "$attack_fifo"
mkfifo "$attack_fifo"
sleep 100000 <>"$attack_fifo" &
attack_holder=$!
attack_run attack-serial 900 "attack=serial flood=$attack_flood" "$attack_fifo"
# What did reach the pipe, for the logs: read it, then let the holder go.
timeout -s KILL 30 cat "$attack_fifo" >/tmp/attack-serial.log &
attack_reader=$!
sleep 1
kill $attack_holder
wait $attack_reader
if attack_survived attack-serial 10; then
	pass "attack: a console flood into a console nobody reads leaves the loader running to the guest's exit"
else
	fail "attack: a console flood into a console nobody reads leaves the loader running to the guest's exit" \
		"$attack_why" /tmp/attack-serial.err
fi
# Held anywhere at once: the pipe, the console buffer, one chunk.
attack_held=$(((64 + attack_console_kib + 4) * 1024))
attack_dropped=$(sed -n 's/^agentbox: warning: console: dropped \([0-9]*\) bytes.*/\1/p' /tmp/attack-serial.err)
attack_dropped=${attack_dropped:-0}
attack_got=$(wc -c </tmp/attack-serial.log)
echo "  attack: serial: ${attack_flood} bytes flooded in ${attack_secs} s; ${attack_got} reached the pipe, ${attack_dropped} dropped; peak RSS ${attack_peak} KiB, ${attack_base} KiB without the flood"
if [ "$attack_dropped" -ge $((attack_flood - attack_held)) ] &&
	grep -q 'console: output still blocked' /tmp/attack-serial.err &&
	[ -n "$attack_base" ] && [ "$attack_peak" -le $((attack_base + attack_console_kib + 1024)) ]; then
	pass "attack: a console flood is dropped and counted past the 256 KiB console buffer, not held"
else
	fail "attack: a console flood is dropped and counted past the 256 KiB console buffer, not held" \
		"${attack_flood} bytes sent, ${attack_dropped} dropped (at least $((attack_flood - attack_held)) must be); peak RSS ${attack_peak} KiB against ${attack_base} KiB without the flood" \
		/tmp/attack-serial.err
fi

attack_run attack-mmio 900 "attack=mmio iters=$attack_iters"
if attack_survived attack-mmio 11; then
	pass "attack: random MMIO accesses to every device leave the loader running"
else
	fail "attack: random MMIO accesses to every device leave the loader running" "$attack_why" /tmp/attack-mmio.err
fi
if [ $rc -eq 11 ]; then
	pass "attack: after random MMIO accesses every device works again once reset"
else
	fail "attack: after random MMIO accesses every device works again once reset" \
		"status $rc; $(attack_tally attack-mmio 'mmio: recovery')" /tmp/attack-mmio.log
fi
if attack_bounded; then
	pass "attack: random MMIO accesses keep the loader within guest RAM + 8 MiB"
else
	fail "attack: random MMIO accesses keep the loader within guest RAM + 8 MiB" "$attack_why"
fi
attack_mmio_err=$(wc -c </tmp/attack-mmio.err)
echo "  attack: mmio: $attack_why; stderr ${attack_mmio_err} bytes"

attack_run attack-virtq 900 "attack=virtq"
if attack_survived attack-virtq 12; then
	pass "attack: malformed virtqueues on every device leave the loader running"
else
	fail "attack: malformed virtqueues on every device leave the loader running" "$attack_why" /tmp/attack-virtq.err
fi
if [ $rc -eq 12 ]; then
	pass "attack: every malformed ring fails its device, and a reset brings it back"
else
	fail "attack: every malformed ring fails its device, and a reset brings it back" \
		"status $rc; $(grep -m3 'UNEXPECTED' /tmp/attack-virtq.log | tr '\n' ' ')$(attack_tally attack-virtq virtq)" \
		/tmp/attack-virtq.log
fi
if attack_bounded; then
	pass "attack: malformed virtqueues keep the loader within guest RAM + 8 MiB"
else
	fail "attack: malformed virtqueues keep the loader within guest RAM + 8 MiB" "$attack_why"
fi
attack_virtq_err=$(wc -c </tmp/attack-virtq.err)
echo "  attack: virtq: $(attack_tally attack-virtq virtq); $attack_why; stderr ${attack_virtq_err} bytes"
# Every boot-timer write and every failure could be a line: a guest
# doing either in a loop must not fill the disk through our stderr.
if [ "$attack_mmio_err" -lt 16384 ] && [ "$attack_virtq_err" -lt 16384 ]; then
	pass "attack: a guest cannot flood the loader's log through the boot timer or device failures"
else
	fail "attack: a guest cannot flood the loader's log through the boot timer or device failures" \
		"stderr ${attack_mmio_err} bytes after the random accesses, ${attack_virtq_err} after the malformed rings" \
		/tmp/attack-mmio.err
fi

attack_run attack-all 900 "attack=all flood=$attack_all_flood iters=$attack_iters"
if attack_survived attack-all 0 && [ $rc -eq 0 ] && attack_bounded; then
	pass "attack: all three attacks in one run end with the guest's status 0, memory bounded"
else
	fail "attack: all three attacks in one run end with the guest's status 0, memory bounded" \
		"$attack_why" /tmp/attack-all.err
fi
rm -f "$attack_rw" "$attack_ro" "$attack_fifo"
