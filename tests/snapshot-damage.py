#!/usr/bin/env python3
"""Damaged state files against `agentbox restore`, on a host without KVM.

usage: snapshot-damage.py AGENTBOX STATE WORKDIR

STATE is a real snapshot's state file (tests/loader-l1.test brings one
back from the L1). Every truncation of it, 1000 random bit flips (seeded,
so a failure repeats), and a valid file from another loader version must
each be refused with exit status 125 and one line naming the state file,
before the restore looks at anything else. Prints one line per kind and
exits non-zero on the first kind that fails.
"""
import os
import random
import struct
import subprocess
import sys
import zlib

HEADER = 32
SECTION_HEAD = 16


def refuse(agentbox, workdir, data):
    """The restore's status and stderr for a snapshot dir holding data."""
    path = os.path.join(workdir, "state")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([agentbox, "restore", workdir, "--vsock",
                        os.path.join(workdir, "v.sock")],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


def check(agentbox, workdir, kind, cases, want):
    for what, data in cases:
        rc, err = refuse(agentbox, workdir, data)
        lines = err.strip().splitlines()
        if rc != 125 or len(lines) != 1 or want not in lines[0]:
            print(f"FAIL {kind}: {what}: status {rc}, stderr {err.strip()!r}")
            return False
    print(f"ok {kind}: {len(cases)} refused")
    return True


def sections(data):
    """(offset, tag, payload offset, length) of each section."""
    off = HEADER
    while off < len(data):
        tag, _, length = struct.unpack_from("<IIQ", data, off)
        yield off, tag, off + SECTION_HEAD, length
        off += SECTION_HEAD + length + 4


def other_version(data):
    """The same file, its loader version changed and its CRC made good."""
    out = bytearray(data)
    for off, tag, payload, length in sections(data):
        if tag != struct.unpack("<I", b"MACH")[0]:
            continue
        name_len = struct.unpack_from("<I", out, payload)[0]
        out[payload + 4 + name_len - 1] ^= 0x01
        end = payload + length
        struct.pack_into("<I", out, end, zlib.crc32(bytes(out[off:end])))
        return bytes(out)
    raise SystemExit("no machine section in the state file")


def main():
    agentbox, state, workdir = sys.argv[1:4]
    data = open(state, "rb").read()
    rng = random.Random(20261123)
    flips = []
    for _ in range(1000):
        bit = rng.randrange(len(data) * 8)
        b = bytearray(data)
        b[bit // 8] ^= 1 << (bit % 8)
        flips.append((f"bit {bit} flipped", bytes(b)))
    # The intact file gets past every state check: the harness itself works.
    rc, err = refuse(agentbox, workdir, data)
    if "/state" in err:
        print(f"FAIL intact: the intact file was refused: {err.strip()}")
        return 1
    ok = check(agentbox, workdir, "truncated",
               [(f"cut at {n}", data[:n]) for n in range(len(data))], "/state") and \
        check(agentbox, workdir, "bit flips", flips, "/state") and \
        check(agentbox, workdir, "other loader version",
              [("version changed", other_version(data))], "loader version")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
