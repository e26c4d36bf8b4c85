#!/bin/bash
# Build what the nested vsock check needs into the L1 job directory:
# vsock-prepare.sh TOP JOBDIR TMP. Puts vsock-peer (static musl, runs in
# both the L1 and the L2), vsock-check.sh, and the L2's job disk
# vsock.ext4 (vsock-peer as an echo server and a guest->host client) there.
# tests/loader-l1.test calls this once; tests.sh then runs ". $job/vsock-check.sh".
set -e
top=$1 jobdir=$2 tmp=$3
musl-gcc -static -O2 -Wall -Wextra -Werror -o "$jobdir/vsock-peer" "$top/tests/l1/vsock-peer.c"
cp "$top/tests/l1/vsock-check.sh" "$jobdir/vsock-check.sh"
mkdir -p "$tmp/vsock-l2"
cp "$jobdir/vsock-peer" "$tmp/vsock-l2/vsock-peer"
printf '%s\n' '/job/vsock-peer guest 1234 5000' >"$tmp/vsock-l2/run"
mke2fs -q -t ext4 -O ^has_journal -d "$tmp/vsock-l2" "$jobdir/vsock.ext4" 4M >/dev/null 2>&1
