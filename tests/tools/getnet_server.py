#!/usr/bin/env python3
"""An HTTPS test server for moat get's --compressed, --retry and
--limit-rate (tests/interop/97-get-net.sh): bodies in each content coding
(and broken ones), answers that fail the first N times, a large body.

    getnet_server.py PORT CERT KEY LOG

Paths: /enc/NAME (br, gzip, deflate, rawdeflate, zlibgzip, gzip-br,
identity, corrupt-gzip, corrupt-br, trailing-gzip, unknown, bomb),
/flaky?id=K&n=N&code=C&ra=V (C with Retry-After V the first N times, then
200), /cut?id=K&n=N (half a body, then the connection closed, the
first N times), /redir?to=URL (302 to URL), /count?id=K (requests seen
for K), /big?n=BYTES, POST /sink.
Each request's line and Accept-Encoding go to LOG."""
import gzip
import ssl
import sys
import threading
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli  # python3-brotli

PLAIN = b"".join(b"line %d of a body that compresses well\n" % i for i in range(3000))
COUNTS = {}
LOCK = threading.Lock()


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def bomb():
    # 256 MiB of zeros in about 256 kB of gzip.
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(b"\0" * (1 << 20)) for _ in range(256)]
    out.append(c.flush())
    return b"".join(out)


BODIES = {}


def body(name):
    if name not in BODIES:
        gz = gzip.compress(PLAIN)
        bad = bytearray(gz)
        bad[len(bad) // 2] ^= 0xFF
        bad[len(bad) // 2 + 1] ^= 0xFF
        br = brotli.compress(PLAIN)
        badbr = bytearray(br)
        badbr[len(badbr) // 2] ^= 0x55
        BODIES.update({
            "br": ("br", br),
            "gzip": ("gzip", gz),
            "deflate": ("deflate", zlib.compress(PLAIN)),
            "rawdeflate": ("deflate", raw_deflate(PLAIN)),
            "gzip-br": ("gzip, br", brotli.compress(gzip.compress(PLAIN))),
            "identity": ("identity", PLAIN),
            "corrupt-gzip": ("gzip", bytes(bad)),
            "corrupt-br": ("br", bytes(badbr)),
            "trailing-gzip": ("gzip", gz + b"garbage after the end"),
            "unknown": ("frobnicate", PLAIN),
        })
        if name == "bomb":
            BODIES["bomb"] = ("gzip", bomb())
    return BODIES.get(name)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def log(self):
        with open(LOG, "a") as f:
            f.write("%s ae=%s\n" % (self.requestline, self.headers.get("Accept-Encoding", "-")))

    def send(self, code, data, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self.log()
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path.startswith("/enc/"):
            b = body(u.path[5:])
            if not b:
                return self.send(404, b"no such coding\n")
            return self.send(200, b[1], [("Content-Encoding", b[0]), ("Content-Type", "text/plain")])
        if u.path == "/flaky":
            with LOCK:
                k = q.get("id", "")
                COUNTS[k] = COUNTS.get(k, 0) + 1
                seen = COUNTS[k]
            if seen <= int(q.get("n", "1")):
                h = [("Retry-After", q["ra"])] if "ra" in q else []
                return self.send(int(q.get("code", "503")), b"try again later\n", h)
            return self.send(200, b"finally %d\n" % seen)
        if u.path == "/cut":
            # The first N times: the head of a 200000-byte body, half of
            # it, and the connection closed (no TLS close_notify).
            with LOCK:
                k = q.get("id", "")
                COUNTS[k] = COUNTS.get(k, 0) + 1
                seen = COUNTS[k]
            data = (PLAIN * 2)[:200000]
            if seen <= int(q.get("n", "1")):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:100000])
                self.wfile.flush()
                self.close_connection = True
                return
            return self.send(200, data)
        if u.path == "/redir":
            return self.send(302, b"moved\n", [("Location", q.get("to", "/"))])
        if u.path == "/count":
            return self.send(200, b"%d\n" % COUNTS.get(q.get("id", ""), 0))
        if u.path == "/big":
            n = int(q.get("n", "100000"))
            return self.send(200, (PLAIN * (n // len(PLAIN) + 1))[:n])
        return self.send(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        self.log()
        n = int(self.headers.get("Content-Length", "0"))
        got = 0
        while got < n:
            d = self.rfile.read(min(65536, n - got))
            if not d:
                break
            got += len(d)
        self.send(200, b"got %d\n" % got)


if __name__ == "__main__":
    port, cert, key, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    body("br")
    print("ready", flush=True)
    srv.serve_forever()
