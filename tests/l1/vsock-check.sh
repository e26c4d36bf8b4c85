# The loader's virtio-vsock in a real L2, sourced by tests/l1/tests.sh
# inside the L1 (it uses that script's pass, fail and $job). The L2 runs
# vsock-peer as an echo server on vsock port 1234 and connects to CID 2
# port 5000; here vsock-peer is the host client through the loader's
# socket and the unix listener at <SOCK>_5000.
# shellcheck shell=sh
: "${job:=/job}"
vsock_sock=/tmp/vsock.sock
vsock_log=/tmp/vsock.log
vsock_mb=64

# The loader's peak resident memory so far, in KiB. Guest RAM counts too
# (the L1 kernel has no smaps to leave it out), but an echo recycles the
# guest's buffers, so growth during the transfer is the loader's own.
vsock_hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

rm -f "$vsock_sock" "${vsock_sock}_5000"
"$job/vsock-peer" listen "${vsock_sock}_5000" >/tmp/vsock-listen.out 2>&1 &
vsock_listener=$!
"$job/agentbox" run --console "$vsock_log" --kernel "$job/vmlinux" \
	--initrd "$job/initramfs.cpio" --disk /dev/vda,ro --disk "$job/vsock.ext4,ro" \
	--mem 512M --cmdline "agentbox.job=/dev/vdb agentbox.docker=0" \
	--vsock "$vsock_sock" 2>>"$vsock_log" &
vsock_vm=$!

# A small echo first: it waits out the boot (the client retries while the
# guest refuses) and fixes the loader's memory before the big transfer.
if timeout -s KILL 600 "$job/vsock-peer" client "$vsock_sock" 1234 4096 >/tmp/vsock-small.out 2>&1; then
	pass "vsock: CONNECT 1234 through SOCK reaches the guest's echo server"
else
	fail "vsock: CONNECT 1234 through SOCK reaches the guest's echo server" \
		"$(cat /tmp/vsock-small.out)" "$vsock_log"
fi

vsock_before=$(vsock_hwm $vsock_vm)
if timeout -s KILL 900 "$job/vsock-peer" client "$vsock_sock" 1234 $((vsock_mb << 20)) >/tmp/vsock-big.out 2>&1; then
	pass "vsock: 64 MiB echoed through the guest intact"
else
	fail "vsock: 64 MiB echoed through the guest intact" \
		"$(cat /tmp/vsock-big.out)" "$vsock_log"
fi
vsock_peak=$(vsock_hwm $vsock_vm)
echo "  vsock: loader VmHWM ${vsock_before} KiB before, ${vsock_peak} KiB peak"
# Buffering what the guest cannot take yet would grow by a good part of
# the transfer; flow control bounds it at 256 KiB per connection.
if [ -n "$vsock_before" ] && [ -n "$vsock_peak" ] && [ $((vsock_peak - vsock_before)) -lt 16384 ]; then
	pass "vsock: loader memory stays bounded during a 64 MiB transfer"
else
	fail "vsock: loader memory stays bounded during a 64 MiB transfer" \
		"VmRSS went from '${vsock_before}' to '${vsock_peak}' KiB"
fi

# Refusals and hang-ups must leave the device serving the next client.
# The hang-up sends no more than the echo path can hold, so it never
# blocks on a guest waiting for it to read.
if "$job/vsock-peer" refused "$vsock_sock" 1235 >/tmp/vsock-refused.out 2>&1 &&
	timeout -s KILL 300 "$job/vsock-peer" abort "$vsock_sock" 1234 65536 >>/tmp/vsock-refused.out 2>&1 &&
	timeout -s KILL 300 "$job/vsock-peer" client "$vsock_sock" 1234 65536 >>/tmp/vsock-refused.out 2>&1; then
	pass "vsock: a refused CONNECT and a client hanging up mid-stream leave it working"
else
	fail "vsock: a refused CONNECT and a client hanging up mid-stream leave it working" \
		"$(cat /tmp/vsock-refused.out)" "$vsock_log"
fi

i=0
while kill -0 $vsock_listener 2>/dev/null && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
if grep -q "the guest sent 'ping'" /tmp/vsock-listen.out &&
	grep -q "host answered 'pong'" "$vsock_log"; then
	pass "vsock: a guest connection to CID 2 port 5000 reaches SOCK_5000"
else
	fail "vsock: a guest connection to CID 2 port 5000 reaches SOCK_5000" \
		"$(cat /tmp/vsock-listen.out)" "$vsock_log"
fi
kill $vsock_listener 2>/dev/null
kill -TERM $vsock_vm
wait $vsock_vm
