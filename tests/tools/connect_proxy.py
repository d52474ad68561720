#!/usr/bin/env python3
"""A small HTTP CONNECT proxy for tests (tests/interop/97-get-net.sh):
logs each request head, checks Basic credentials, can refuse, resolves
names itself (with a map of its own), then relays both ways.

    connect_proxy.py PORT LOG [--auth USER:PASS] [--deny] [--map NAME=ADDR]

LOG gets each request head as received (CRLF kept), then a line
'=== N' after it (N: the status answered). --deny answers 403 to all."""
import base64
import socket
import sys
import threading

args = sys.argv[1:]
PORT, LOG = int(args[0]), args[1]
AUTH = DENY = None
MAP = {}
i = 2
while i < len(args):
    if args[i] == "--auth":
        AUTH = "Basic " + base64.b64encode(args[i + 1].encode()).decode()
        i += 2
    elif args[i] == "--deny":
        DENY = True
        i += 1
    elif args[i] == "--map":
        n, a = args[i + 1].split("=", 1)
        MAP[n] = a
        i += 2
    else:
        sys.exit("bad argument " + args[i])
LOCK = threading.Lock()


def relay(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def answer(c, code, reason, extra=b""):
    body = b"%d %s\n" % (code, reason)
    c.sendall(b"HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s" % (code, reason, extra, len(body), body))


def handle(c):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        d = c.recv(1)
        if not d:
            c.close()
            return
        head += d
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    fields = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    code = 200
    if DENY:
        code = 403
    elif len(parts) != 3 or parts[0] != "CONNECT":
        code = 405
    elif AUTH and fields.get("proxy-authorization") != AUTH:
        code = 407
    up = None
    if code == 200:
        host, _, port = parts[1].rpartition(":")
        host = host.strip("[]")
        try:
            up = socket.create_connection((MAP.get(host, host), int(port)), timeout=10)
            up.settimeout(None)
        except OSError:
            code = 502
    with LOCK:
        with open(LOG, "ab") as f:
            f.write(head + b"=== %d\n" % code)
    if code != 200:
        reasons = {403: b"Forbidden", 405: b"Method Not Allowed", 407: b"Proxy Authentication Required",
                   502: b"Bad Gateway"}
        extra = b'Proxy-Authenticate: Basic realm="test"\r\n' if code == 407 else b""
        answer(c, code, reasons[code], extra)
        c.close()
        return
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=relay, args=(c, up), daemon=True).start()
    relay(up, c)


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", PORT))
s.listen(64)
print("ready", flush=True)
while True:
    conn, _ = s.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
