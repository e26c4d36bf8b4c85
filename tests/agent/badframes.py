#!/usr/bin/env python3
"""Send one bad frame to the guest agent and expect an ERROR frame on
channel 0 in reply. usage: badframes.py SOCK CASE; prints the agent's
message, exits 0 when the reply came, 1 otherwise."""
import socket
import struct
import sys

HELLO, EXEC, ERROR = 0x01, 0x10, 0x29
MAGIC = 0x58424741


def frame(ftype, chan, payload=b"", version=1, length=None):
    n = len(payload) if length is None else length
    return struct.pack("<IBBHI", n, version, ftype, 0, chan) + payload


def read_frame(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            got = s.recv(n - len(buf))
            if not got:
                raise EOFError("connection closed")
            buf += got
        return buf
    length, _, ftype, _, chan = struct.unpack("<IBBHI", exact(12))
    return ftype, chan, exact(length)


def string(text):
    return struct.pack("<I", len(text)) + text


CASES = {
    # header version 2
    "version": frame(HELLO, 0, struct.pack("<I", MAGIC), version=2),
    # a payload length over the 64 KiB limit
    "oversized": frame(EXEC, 1, length=65537),
    # an unknown frame type
    "type": frame(0x7F, 1),
    # an exec whose argv claims three strings and carries one
    "truncated": frame(EXEC, 1, struct.pack("<II", 0, 0) + string(b"") +
                       struct.pack("<I", 3) + string(b"sh")),
    # a request before HELLO
    "nohello": frame(EXEC, 1, b""),
}


def main():
    sock, case = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(sock)
    if case != "nohello":
        s.sendall(frame(HELLO, 0, struct.pack("<I", MAGIC)))
        if read_frame(s)[0] != HELLO:
            print("no HELLO reply")
            return 1
    s.sendall(CASES[case])
    ftype, chan, payload = read_frame(s)
    if ftype != ERROR or chan != 0:
        print("reply type %#x on channel %d, not ERROR on 0" % (ftype, chan))
        return 1
    print(payload[8:].decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
