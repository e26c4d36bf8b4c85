#!/usr/bin/env python3
"""A stand-in guest agent for `agentbox fixup` without a VM: it serves
the agent protocol on a unix socket, checks each RESTORED request and
answers as MODE says. usage: fake_agent.py SOCK MODE [LOG]

  ok      EXIT 0; appends "SECONDS.NANOSECONDS SEEDHEX" to LOG
  error   ERROR EPERM on the channel, as a guest step that failed
  old     ERROR on channel 0, as an agent that predates RESTORED
A malformed RESTORED is answered with ERROR on channel 0 naming the fault.
"""
import errno
import os
import socket
import struct
import sys

HELLO, RESTORED, EXIT, ERROR = 0x01, 0x16, 0x28, 0x29
MAGIC = 0x58424741
SEED_SIZE = 64


def frame(ftype, chan, payload=b""):
    return struct.pack("<IBBHI", len(payload), 1, ftype, 0, chan) + payload


def error(chan, err, text):
    data = text.encode()
    return frame(ERROR, chan, struct.pack("<II", err, len(data)) + data)


def exact(conn, n):
    buf = b""
    while len(buf) < n:
        got = conn.recv(n - len(buf))
        if not got:
            raise EOFError
        buf += got
    return buf


def read_frame(conn):
    length, _, ftype, _, chan = struct.unpack("<IBBHI", exact(conn, 12))
    return ftype, chan, exact(conn, length)


def check(payload):
    """The fault in a RESTORED payload, or None."""
    if len(payload) != 16 + SEED_SIZE:
        return "payload of %d bytes" % len(payload)
    _, nsec, seed_len = struct.unpack("<QII", payload[:16])
    if seed_len != SEED_SIZE or nsec >= 10**9:
        return "seed length %d, nanoseconds %d" % (seed_len, nsec)
    return None


def answer(chan, payload, mode, log):
    fault = check(payload)
    if fault:
        return error(0, errno.EBADMSG, fault)
    if mode == "old":
        return error(0, errno.EBADMSG, "malformed frame")
    if mode == "error":
        return error(chan, errno.EPERM, "RNDADDENTROPY: Operation not permitted")
    sec, nsec = struct.unpack("<QI", payload[:12])
    with open(log, "a") as f:
        f.write("%d.%09d %s\n" % (sec, nsec, payload[16:].hex()))
    return frame(EXIT, chan, struct.pack("<II", 0, 0))


def session(conn, mode, log):
    while True:
        ftype, chan, payload = read_frame(conn)
        if ftype == HELLO:
            conn.sendall(frame(HELLO, 0, struct.pack("<I", MAGIC)))
        elif ftype == RESTORED:
            conn.sendall(answer(chan, payload, mode, log))


def main():
    path, mode = sys.argv[1], sys.argv[2]
    log = sys.argv[3] if len(sys.argv) > 3 else os.devnull
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(4)
    while True:
        conn, _ = s.accept()
        try:
            session(conn, mode, log)
        except (EOFError, OSError):
            pass
        conn.close()


if __name__ == "__main__":
    main()
