# What a hostile workload inside a sandbox can see of, and leave in, the
# machine around it. Sourced by tests/l1/tests.sh after snapshot-check.sh,
# whose helpers (restore, in_clone, finish, restored_ok) and warm snapshot
# it uses. Here the L1 is "the host"; every guest below runs as root.
# shellcheck shell=sh
# shellcheck disable=SC2154 # snap_warm, snap_run and the helpers are snapshot-check.sh's
: "${job:=/job}"

# Marks the host leaves where a guest that could see the host would find
# them: a process, a file, the hostname. The canary is for memory and disk.
rand=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
canary=agentbox-canary-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
host_mark=host-mark-$rand
hostname "l1-$host_mark"
echo "$host_mark" >"/tmp/$host_mark"
mkdir -p "/tmp/$host_mark.d" && ln -sf /bin/busybox "/tmp/$host_mark.d/sleep"
"/tmp/$host_mark.d/sleep" 3000 &
host_proc=$!
rootfs_sum=$(sha256sum /dev/vda | cut -d' ' -f1)

# A small VM with a writable disk of its own, snapshotted as soon as its
# agent answers: the source of the two clones the leak test compares.
leak_disk=/tmp/leak-disk.img
rm -rf /tmp/snap-leak /tmp/snap-leak-a /tmp/snap-leak-b /tmp/snap-leak-base
truncate -s 64M "$leak_disk"
rm -f /tmp/leakbase.sock /tmp/leakbase.ctl
timeout -s KILL 600 "$job/agentbox" run --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" \
	--disk /dev/vda,ro --disk "$leak_disk" --mem 256M --cmdline agentbox.docker=0 \
	--vsock /tmp/leakbase.sock --control /tmp/leakbase.ctl \
	--console /tmp/leakbase.log 2>/tmp/leakbase.err &
leakbase=$!
i=0
until timeout -s KILL 10 "$job/agentbox" exec vsock:/tmp/leakbase.sock -- true 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 60 ] && kill -0 $leakbase 2>/dev/null || break
	sleep 2
done
"$job/agentbox" snapshot /tmp/leakbase.ctl /tmp/snap-leak >/tmp/leak-snap.out 2>&1

# has_canary DIR: the canary is in the snapshot's memory file, in one of
# its disk copies, or in neither ("memory", "disk", "memory disk" or "").
has_canary() {
	found=
	grep -qaF "$canary" "$1"/memory.* 2>/dev/null && found=memory
	for d in "$1"/disk*; do
		[ -e "$d" ] || continue
		grep -qaF "$canary" "$d" && found="$found disk"
	done
	echo $found
}

# Two clones of that VM side by side, and the VM itself still running:
# clone A writes the canary into its memory (a tmpfs file and a shell
# variable) and raw onto its clone of the disk; clone B dirties as much
# fresh memory, where pages of A's would show. Then every VM's memory and
# disks are snapshotted and searched; A's own are the proof the search
# finds the canary where it is.
restore leak-a /tmp/snap-leak
leak_a=$restored
restore leak-b /tmp/snap-leak
leak_b=$restored
restored_ok leak-a && restored_ok leak-b
in_clone leak-a "i=0; while [ \$i -lt 8192 ]; do echo $canary; i=\$((i + 1)); done >/tmp/canary &&
	dd if=/tmp/canary of=/dev/vdb bs=64k conv=fsync 2>/dev/null && x=\$(cat /tmp/canary) && echo written" >/tmp/leak-a.out 2>&1
in_clone leak-b "dd if=/dev/zero of=/tmp/fill bs=1M count=48 2>/dev/null; echo filled" >/tmp/leak-b.out 2>&1
"$job/agentbox" snapshot /tmp/leak-a.ctl /tmp/snap-leak-a >>/tmp/leak-snap.out 2>&1
"$job/agentbox" snapshot /tmp/leak-b.ctl /tmp/snap-leak-b >>/tmp/leak-snap.out 2>&1
"$job/agentbox" snapshot /tmp/leakbase.ctl /tmp/snap-leak-base >>/tmp/leak-snap.out 2>&1
in_a=$(has_canary /tmp/snap-leak-a)
in_b=$(has_canary /tmp/snap-leak-b)
in_base=$(has_canary /tmp/snap-leak-base)
if grep -q written /tmp/leak-a.out && grep -q filled /tmp/leak-b.out &&
	[ "$in_a" = "memory disk" ] && [ -z "$in_b" ] && [ -z "$in_base" ]; then
	pass "isolation: a canary in one clone's memory and disk is in no other VM's"
else
	fail "isolation: a canary in one clone's memory and disk is in no other VM's" \
		"found in clone A: '$in_a' (want 'memory disk'), clone B: '$in_b', their running source VM: '$in_base'" \
		/tmp/leak-snap.out
fi
finish "$leak_a" leak-a
finish "$leakbase" leakbase
rm -rf /tmp/snap-leak /tmp/snap-leak-a /tmp/snap-leak-base "$leak_disk"

# What clone B can find of the host: no KVM, no host mount or disk beyond
# the two named on its command line, no network device or route, no host
# process, file or name in its /proc, /sys or kernel log.
probe='test ! -e /dev/kvm && ! grep -qw kvm /proc/misc && echo no-kvm
	ls /sys/block | tr "\n" " "; echo
	grep -E " (9p|virtiofs|nfs4?|fuse[.a-z]*|cifs|smb3) " /proc/mounts; echo mounts-checked
	for n in /sys/class/net/*; do [ -e "$n/device" ] && echo "device-backed ${n##*/}"; done
	awk "\$2 == \"00000000\" { print \"default-route\", \$1 }" /proc/net/route
	echo net-checked
	cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " "; echo
	hostname; cat /proc/sys/kernel/hostname /proc/cmdline
	dmesg
	find / -xdev -name "host-mark*" 2>/dev/null'
in_clone leak-b "$probe" >/tmp/probe.out 2>&1
if grep -qx no-kvm /tmp/probe.out; then
	pass "isolation: no /dev/kvm in the guest"
else
	fail "isolation: no /dev/kvm in the guest" "the guest has a KVM device" /tmp/probe.out
fi
blocks=$(sed -n 2p /tmp/probe.out)
if [ "$blocks" = "vda vdb " ] && grep -qx mounts-checked /tmp/probe.out &&
	! grep -q '^device-backed\|^default-route' /tmp/probe.out && grep -qx net-checked /tmp/probe.out; then
	pass "isolation: only the named disks, no shared filesystem, no network device or route"
else
	fail "isolation: only the named disks, no shared filesystem, no network device or route" \
		"block devices '$blocks'" /tmp/probe.out
fi
if grep -q mounts-checked /tmp/probe.out && ! grep -q "$host_mark" /tmp/probe.out &&
	! grep -qF "$(cat /proc/cmdline)" /tmp/probe.out; then
	pass "isolation: no host process, file, hostname or command line in the guest's /proc, /sys or kernel log"
else
	fail "isolation: no host process, file, hostname or command line in the guest's /proc, /sys or kernel log" \
		"the guest saw the host's mark or command line" /tmp/probe.out
fi

# A workload that takes all the memory it can: the guest's OOM killer
# ends it, the agent answers on, and the loader's own footprint stays
# within the guest's RAM plus a bounded overhead.
in_clone leak-b 'awk "BEGIN { s = \"x\"; while (1) s = s s }"' >/tmp/hog.out 2>&1
hwm_kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$leak_b/status")
if [ "$(in_clone leak-b 'echo agent ok')" = "agent ok" ] && [ -n "$hwm_kb" ] &&
	[ "$hwm_kb" -le $(((256 + 64) * 1024)) ]; then
	pass "limits: a memory hog past the VM's size leaves the agent answering and the loader within RAM + 64 MiB"
else
	fail "limits: a memory hog past the VM's size leaves the agent answering and the loader within RAM + 64 MiB" \
		"loader peak RSS ${hwm_kb:-?} kB for a 256 MiB guest" /tmp/hog.out
fi

# rm -rf / as root in clone B: the host keeps its files, the read-only
# image is bit for bit what it was, and a new sandbox from it works.
in_clone leak-b 'rm -rf / 2>/dev/null; rm -rf /* 2>/dev/null; ls / | wc -l' >/tmp/rmrf.out 2>&1
finish "$leak_b" leak-b
rm -rf /tmp/snap-leak-b
restore after-rm "$snap_warm"
after_rm=$restored
if [ -f "/tmp/$host_mark" ] && [ -x "$job/agentbox" ] && kill -0 $host_proc &&
	[ "$(sha256sum /dev/vda | cut -d' ' -f1)" = "$rootfs_sum" ] &&
	restored_ok after-rm && in_clone after-rm "$snap_run" >/tmp/after-rm.out 2>&1 &&
	grep -q 'hello from a restored container' /tmp/after-rm.out; then
	pass "isolation: after rm -rf / in a guest the host and the image are intact and a new sandbox runs a container"
else
	fail "isolation: after rm -rf / in a guest the host and the image are intact and a new sandbox runs a container" \
		"guest said '$(tr '\n' ' ' </tmp/rmrf.out)'" /tmp/after-rm.out
fi
finish "$after_rm" after-rm
kill $host_proc 2>/dev/null
rm -rf "/tmp/$host_mark" "/tmp/$host_mark.d"
