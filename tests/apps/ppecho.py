#!/usr/bin/env python3
"""An HTTP/1.1 application behind a PROXY protocol sender (moat serve
--proxy-send-proxy v1|v2): each connection must start with a PROXY header;
every request on it is answered with what that header said and the
request's number on the connection, e.g.
"pp=v2 cmd=PROXY src=192.0.2.7:5555 dst=192.0.2.1:443 n=1 xff=192.0.2.7".
A connection without a header, or with a second one, gets a 400.
Usage: ppecho.py PORT"""
import ipaddress
import socket
import struct
import sys
import threading

SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(c, buf, n):
    while len(buf) < n:
        b = c.recv(65536)
        if not b:
            raise EOFError
        buf += b
    return buf


def read_header(c):
    """Returns (description, rest) or (None, rest)."""
    buf = read_exact(c, b"", 16)
    if buf.startswith(SIG2):
        ver_cmd, fam, ln = buf[12], buf[13], struct.unpack("!H", buf[14:16])[0]
        buf = read_exact(c, buf, 16 + ln)
        body, rest = buf[16:16 + ln], buf[16 + ln:]
        cmd = "LOCAL" if ver_cmd & 0xF == 0 else "PROXY"
        if fam == 0x11:
            s, d = ipaddress.ip_address(body[0:4]), ipaddress.ip_address(body[4:8])
            sp, dp = struct.unpack("!HH", body[8:12])
        elif fam == 0x21:
            s, d = ipaddress.ip_address(body[0:16]), ipaddress.ip_address(body[16:32])
            sp, dp = struct.unpack("!HH", body[32:36])
        else:
            return "pp=v2 cmd=%s family=none" % cmd, rest
        return "pp=v2 cmd=%s src=%s:%d dst=%s:%d" % (cmd, s, sp, d, dp), rest
    if buf.startswith(b"PROXY "):
        while b"\r\n" not in buf:
            b = c.recv(1)
            if not b:
                raise EOFError
            buf += b
        line, rest = buf.split(b"\r\n", 1)
        f = line.decode().split(" ")
        if f[1] == "UNKNOWN":
            return "pp=v1 family=none", rest
        return "pp=v1 src=%s:%s dst=%s:%s" % (f[2], f[4], f[3], f[5]), rest
    return None, buf


def serve(c):
    try:
        desc, buf = read_header(c)
        n = 0
        while True:
            while b"\r\n\r\n" not in buf:
                b = c.recv(65536)
                if not b:
                    return
                buf += b
            head, buf = buf.split(b"\r\n\r\n", 1)
            n += 1
            xff = "-"
            for h in head.split(b"\r\n")[1:]:
                k, _, v = h.partition(b":")
                if k.strip().lower() == b"x-forwarded-for":
                    xff = v.strip().decode()
            if desc is None or head.startswith(b"PROXY") or head.startswith(SIG2):
                body, status = b"no PROXY header\n", b"400 Bad Request"
            else:
                body, status = ("%s n=%d xff=%s\n" % (desc, n, xff)).encode(), b"200 OK"
            c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except (EOFError, OSError):
        pass
    finally:
        c.close()


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
