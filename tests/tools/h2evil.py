#!/usr/bin/env python3
"""A hostile HTTP/2 server over TLS (ALPN h2), written in raw frames, for
moat get's h2 client: each MODE answers the request on stream 1 wrongly.

    h2evil.py PORT CERT KEY MODE

Modes: ok (a correct 200 with a small body), badframe (DATA on stream 0),
goaway (half a body, then GOAWAY INTERNAL_ERROR and close), rst (head,
then RST_STREAM INTERNAL_ERROR), cut (half a body, then close_notify),
noheaders (a clean END_STREAM with no response head), bigheaders (a
header block of endless CONTINUATION frames of new fields), contflood
(endless empty CONTINUATION frames), hpackbomb (one 4 KB field in the
dynamic table, then referenced again and again), settings (endless
SETTINGS), ping (endless PING), zerowindow (INITIAL_WINDOW_SIZE 0 and no
WINDOW_UPDATE: a request body can never go), push (a PUSH_PROMISE though
moat disabled push), redirect (a 302 whose long body never ends; the
RST_STREAM moat answers with is printed, "RST_STREAM stream 1 code 8",
and the next stream gets the 200 of ok). Serves one connection after
another until killed.
"""
import socket
import ssl
import struct
import sys
import threading

DATA, HEADERS, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = 0, 1, 3, 4, 5, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(t, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", stream) + payload


def hint(n, prefix, first=0):
    """RFC 7541 5.1 integer with an N-bit prefix."""
    top = (1 << prefix) - 1
    if n < top:
        return bytes([first | n])
    out = [first | top]
    n -= top
    while n >= 128:
        out.append(n % 128 + 128)
        n //= 128
    out.append(n)
    return bytes(out)


def literal(name, value, indexing=False):
    """A literal field with a new name (RFC 7541 6.2.1 / 6.2.2)."""
    return (b"\x40" if indexing else b"\x00") + hint(len(name), 7) + name + hint(len(value), 7) + value


STATUS_200 = b"\x88"  # static table index 8


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def read_frame(s):
    h = read_exact(s, 9)
    n = int.from_bytes(h[:3], "big")
    return h[3], h[4], int.from_bytes(h[5:9], "big") & 0x7FFFFFFF, read_exact(s, n) if n else b""


def request(s):
    """Reads frames until the client's HEADERS on stream 1; acks SETTINGS."""
    while True:
        t, flags, stream, _ = read_frame(s)
        if t == SETTINGS and not flags & ACK:
            s.sendall(frame(SETTINGS, ACK, 0))
        if t == HEADERS:
            return stream


def endless(s, f):
    try:
        while True:
            s.sendall(f * 64)
    except OSError:
        pass


def serve(conn, mode):
    read_exact(conn, 24)  # the client preface
    if mode == "zerowindow":
        conn.sendall(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))
    else:
        conn.sendall(frame(SETTINGS, 0, 0))
    sid = request(conn)
    head = STATUS_200 + literal(b"content-length", b"20")
    if mode == "ok":
        conn.sendall(frame(HEADERS, END_HEADERS, sid, head) + frame(DATA, END_STREAM, sid, b"x" * 20))
    if mode == "badframe":
        conn.sendall(frame(HEADERS, END_HEADERS, sid, head) + frame(DATA, 0, 0, b"bad"))
    elif mode == "goaway":
        conn.sendall(frame(HEADERS, END_HEADERS, sid, head) + frame(DATA, 0, sid, b"x" * 10) +
                     frame(GOAWAY, 0, 0, struct.pack(">II", sid, 2)))
    elif mode == "rst":
        conn.sendall(frame(HEADERS, END_HEADERS, sid, head) + frame(RST, 0, sid, struct.pack(">I", 2)))
    elif mode == "cut":
        conn.sendall(frame(HEADERS, END_HEADERS, sid, head) + frame(DATA, 0, sid, b"x" * 10))
    if mode in ("goaway", "cut"):
        conn.unwrap()  # close_notify, then the socket closes
        return
    if mode == "noheaders":
        conn.sendall(frame(DATA, END_STREAM, sid, b""))
    elif mode == "bigheaders":
        conn.sendall(frame(HEADERS, 0, sid, STATUS_200))
        n = 0
        try:
            while True:
                n += 1
                conn.sendall(frame(CONT, 0, sid, literal(b"x-fill-%d" % n, b"v" * 1000)))
        except OSError:
            pass
    elif mode == "contflood":
        conn.sendall(frame(HEADERS, 0, sid, STATUS_200))
        endless(conn, frame(CONT, 0, sid))
    elif mode == "hpackbomb":
        block = STATUS_200 + literal(b"x-bomb", b"b" * 4000, indexing=True) + b"\xbe" * 4000
        conn.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid, block))
    elif mode == "settings":
        endless(conn, frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)))
    elif mode == "ping":
        endless(conn, frame(PING, 0, 0, b"12345678"))
    elif mode == "zerowindow":
        pass  # the body never gets a window; wait for the client to give up
    elif mode == "push":
        conn.sendall(frame(PUSH, END_HEADERS, sid, struct.pack(">I", 2) + b"\x82\x87\x84"))
    elif mode == "redirect":
        block = b"\x48\x03302" + literal(b"location", b"/next") + literal(b"content-length", b"1000000")
        conn.sendall(frame(HEADERS, END_HEADERS, sid, block) + frame(DATA, 0, sid, b"r" * 1000))
        try:
            while True:
                t, flags, stream, payload = read_frame(conn)
                if t == SETTINGS and not flags & ACK:
                    conn.sendall(frame(SETTINGS, ACK, 0))
                if t == RST:
                    print("RST_STREAM stream %d code %d" % (stream, int.from_bytes(payload[:4], "big")), flush=True)
                if t == HEADERS:
                    conn.sendall(frame(HEADERS, END_HEADERS, stream, head) +
                                 frame(DATA, END_STREAM, stream, b"x" * 20))
        except (OSError, EOFError, ssl.SSLError):
            return
    # keep reading (and acking SETTINGS) until the client leaves
    try:
        while True:
            t, flags, _, _ = read_frame(conn)
            if t == SETTINGS and not flags & ACK:
                conn.sendall(frame(SETTINGS, ACK, 0))
    except (OSError, EOFError, ssl.SSLError):
        pass


def main():
    port, cert, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)

    def one(raw):
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
            serve(conn, mode)
            conn.close()
        except (OSError, EOFError, ssl.SSLError):
            pass
        finally:
            raw.close()

    while True:
        raw, _ = ls.accept()
        threading.Thread(target=one, args=(raw,), daemon=True).start()


if __name__ == "__main__":
    main()
