# --net tap=NAME on a real L2, sourced by tests/l1/tests.sh inside the L1
# (it uses that script's pass, fail and $job). The L1 plays the caller: it
# makes a persistent tap, addresses it and serves HTTP on it; the guest
# configures eth0 through the agent.
# shellcheck shell=sh
: "${job:=/job}"
net_tap=abtap0
net_mac=02:00:00:00:00:0a
net_log=/tmp/net.log

# net_in NAME CMD: run CMD in the sandbox whose agent is /tmp/NAME.sock.
net_in() {
	timeout -s KILL 120 "$job/agentbox" exec "vsock:/tmp/$1.sock" -- sh -c "$2"
}

# net_wait NAME: until the sandbox's agent answers, at most 300 s.
net_wait() {
	i=0
	until net_in "$1" true 2>/dev/null || [ $i -ge 300 ]; do
		sleep 1
		i=$((i + 1))
	done
	net_in "$1" true 2>/dev/null
}

tunctl -t "$net_tap" >/dev/null
ip addr add 10.0.2.1/24 dev "$net_tap"
ip link set "$net_tap" up
mkdir -p /tmp/www
head -c 4000000 /dev/urandom >/tmp/www/blob
net_sum=$(sha256sum </tmp/www/blob)
httpd -p 10.0.2.1:8080 -h /tmp/www
net_httpd=$(pidof httpd)

# A tap nobody made is the caller's mistake, named before any VM exists.
"$job/agentbox" run --kernel "$job/vmlinux" --disk /dev/vda,ro --net tap=nosuch0 \
	>/dev/null 2>/tmp/net-bad.err
rc=$?
if [ $rc -eq 125 ] && [ "$(wc -l </tmp/net-bad.err)" -eq 1 ] &&
	grep -q 'nosuch0: no such interface' /tmp/net-bad.err; then
	pass "net: a tap that does not exist is refused with one line (125)"
else
	fail "net: a tap that does not exist is refused with one line (125)" "status $rc" /tmp/net-bad.err
fi

rm -f /tmp/net.sock /tmp/net.ctl
"$job/agentbox" run --console "$net_log" --kernel "$job/vmlinux" \
	--initrd "$job/initramfs.cpio" --disk /dev/vda,ro --mem 512M \
	--cmdline agentbox.docker=0 --vsock /tmp/net.sock --control /tmp/net.ctl \
	--net "tap=$net_tap,mac=$net_mac" 2>/tmp/net.err &
net_vm=$!
net_wait net
got=$(net_in net 'cat /sys/class/net/eth0/address' 2>&1)
if [ "$got" = "$net_mac" ]; then
	pass "net: the guest has eth0 with --net's MAC address"
else
	fail "net: the guest has eth0 with --net's MAC address" "got '$got'" /tmp/net.err
fi
net_in net 'ip addr add 10.0.2.2/24 dev eth0 && ip link set eth0 up' >/dev/null 2>&1
if net_in net 'ping -c 3 -W 10 10.0.2.1' >/tmp/net-ping.out 2>&1; then
	pass "net: the guest pings the tap's host side"
else
	fail "net: the guest pings the tap's host side" "ping failed" /tmp/net-ping.out
fi
got=$(net_in net 'timeout 120 wget -q -O - http://10.0.2.1:8080/blob | sha256sum' 2>&1)
if [ "$got" = "$net_sum" ]; then
	pass "net: 4 MB over HTTP from the host side arrive intact"
else
	fail "net: 4 MB over HTTP from the host side arrive intact" "got '$got'" /tmp/net.err
fi

# The device's own state in a snapshot: a restore on the tap has the
# snapshot's MAC and address and talks at once; one without --net is
# refused.
rm -rf /tmp/net-snap
"$job/agentbox" snapshot /tmp/net.ctl /tmp/net-snap >/tmp/net-snap.out 2>&1
snap_rc=$?
"$job/agentbox" stop /tmp/net.ctl >/dev/null 2>&1 || kill -KILL $net_vm
wait $net_vm
"$job/agentbox" restore /tmp/net-snap --vsock /tmp/net2.sock >/dev/null 2>/tmp/net-nonet.err
rc=$?
if [ $rc -eq 125 ] && grep -q -- '--net: missing' /tmp/net-nonet.err; then
	pass "net: restoring a snapshot with a network device without --net is refused"
else
	fail "net: restoring a snapshot with a network device without --net is refused" "status $rc" /tmp/net-nonet.err
fi
rm -f /tmp/net2.sock
"$job/agentbox" restore /tmp/net-snap --vsock /tmp/net2.sock --net "tap=$net_tap" \
	--console /tmp/net2.log 2>/tmp/net2.err &
net_vm=$!
net_wait net2
if [ $snap_rc -eq 0 ] && [ "$(net_in net2 'cat /sys/class/net/eth0/address' 2>&1)" = "$net_mac" ] &&
	net_in net2 'ping -c 2 -W 10 10.0.2.1' >/tmp/net2-ping.out 2>&1; then
	pass "net: a restored snapshot keeps its MAC and address and pings the host side"
else
	cat /tmp/net-snap.out /tmp/net2-ping.out >>/tmp/net2.err 2>/dev/null
	fail "net: a restored snapshot keeps its MAC and address and pings the host side" \
		"snapshot status $snap_rc" /tmp/net2.err
fi
kill -TERM $net_vm 2>/dev/null
wait $net_vm
if grep -q 'seccomp: forbidden' /tmp/net.err /tmp/net2.err; then
	fail "net: the network device stays inside the seccomp filter" "$(grep -h 'seccomp:' /tmp/net.err /tmp/net2.err)"
else
	pass "net: the network device stays inside the seccomp filter"
fi
kill "$net_httpd" 2>/dev/null
tunctl -d "$net_tap" >/dev/null
