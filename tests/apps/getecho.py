# An HTTPS test server for moat get's request flags and its answers to
# broken servers, the same server for moat get and for curl:
#   /echo...      the request as received (head and de-chunked body) as the body
#   /sha...       "SHA256 LENGTH METHOD" of the request body (read as it comes)
#   /cookies/set  Set-Cookie fields of every kind; /cookies/show echoes Cookie
#   /redir?URL    302 to URL (-u and cookies across hosts)
#   /auth         401 unless Authorization is Basic dXNlcjpwYXNz (user:pass)
#   /big/N, /bigchunked/N   N bytes, with Content-Length or chunked
#   /empty        reads the request, closes without a byte (/empty-notify: with close_notify)
#   /hdrbytes     a head of 400 kB in 1 kB fields; /hdrline: one field of 200 kB
#   /noclose      a body without length, then TCP close without close_notify
#   /interim      200 interim 102 heads, then the end
# usage: python3 getecho.py PORT CERTCHAIN KEY
import hashlib
import socket
import ssl
import sys
import threading


def read_head(c, buf):
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None, None, b""
        buf += d
        if len(buf) > 1 << 20:
            return None, None, b""
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, head.decode("latin-1").split("\r\n"), rest


def header(lines, name):
    for line in lines[1:]:
        n, _, v = line.partition(":")
        if n.strip().lower() == name:
            return v.strip()
    return None


def body_pieces(c, lines, rest):
    """Yields the request body as it arrives (Content-Length or chunked)."""
    if (header(lines, "transfer-encoding") or "").lower() == "chunked":
        buf = rest
        while True:
            while b"\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            if size == 0:
                return
            yield buf[:size]
            buf = buf[size + 2:]
    n = int(header(lines, "content-length") or "0")
    if rest:
        yield rest[:n]
        n -= len(rest[:n])
    while n > 0:
        d = c.recv(min(n, 65536))
        if not d:
            return
        yield d
        n -= len(d)


def reply(c, status, body, extra=()):
    head = "HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (status, len(body))
    for k, v in extra:
        head += "%s: %s\r\n" % (k, v)
    c.sendall(head.encode("latin-1") + b"\r\n" + body)


def serve(c):
    head, lines, rest = read_head(c, b"")
    if head is None:
        return
    method, path = lines[0].split(" ")[:2]
    if path.startswith("/echo"):
        body = b"".join(body_pieces(c, lines, rest))
        reply(c, "200 OK", head + b"\r\n\r\n" + body)
    elif path.startswith("/sha"):
        h, n = hashlib.sha256(), 0
        for p in body_pieces(c, lines, rest):
            h.update(p)
            n += len(p)
        reply(c, "200 OK", ("%s %d %s\n" % (h.hexdigest(), n, method)).encode())
    elif path == "/cookies/set":
        reply(c, "200 OK", b"set\n", [
            ("Set-Cookie", "plain=one"),
            ("Set-Cookie", "withpath=two; Path=/cookies"),
            ("Set-Cookie", "lasting=three; Expires=Wed, 01 Jan 2042 00:00:00 GMT"),
            ("Set-Cookie", "aged=four; Max-Age=86400; Path=/"),
            ("Set-Cookie", "secure=five; Secure; HttpOnly"),
            ("Set-Cookie", "gone=six; Max-Age=0"),
            ("Set-Cookie", "other=seven; Domain=elsewhere.test"),
        ])
    elif path.startswith("/cookies/show") or path.startswith("/show"):
        reply(c, "200 OK", ("cookie: %s\n" % header(lines, "cookie")).encode())
    elif path.startswith("/redir?"):
        reply(c, "302 Found", b"", [("Location", path[len("/redir?"):])])
    elif path == "/auth":
        if header(lines, "authorization") == "Basic dXNlcjpwYXNz":
            reply(c, "200 OK", b"welcome user\n")
        else:
            reply(c, "401 Unauthorized", b"who?\n", [("WWW-Authenticate", 'Basic realm="t"')])
    elif path.startswith("/big/"):
        n = int(path[5:])
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
        left = n
        while left:
            k = min(left, 65536)
            c.sendall(b"x" * k)
            left -= k
    elif path.startswith("/bigchunked/"):
        n = int(path[12:])
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        left = n
        while left:
            k = min(left, 16384)
            c.sendall(b"%x\r\n%s\r\n" % (k, b"x" * k))
            left -= k
        c.sendall(b"0\r\n\r\n")
    elif path == "/empty":
        return "abort"
    elif path == "/empty-notify":
        return "notify"
    elif path == "/hdrbytes":
        c.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(
            b"X-Filler-%d: %s\r\n" % (i, b"f" * 1000) for i in range(400)) + b"\r\nbody")
        return "abort"
    elif path == "/hdrline":
        c.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"l" * 200000 + b"\r\n\r\nbody")
        return "abort"
    elif path == "/interim":
        c.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" * 200)
        return "abort"
    elif path == "/noclose":
        c.sendall(b"HTTP/1.1 200 OK\r\n\r\nthe body, then the end without close_notify\n")
        return "abort"
    else:
        reply(c, "404 Not Found", b"no\n")
    return "notify"


def conn(ctx, raw):
    try:
        c = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        raw.close()
        return
    try:
        how = serve(c)
        if how == "notify":
            c.unwrap().close()
            return
    except (OSError, ssl.SSLError, ValueError):
        pass
    # No close_notify: the TCP connection just ends.
    try:
        c.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    c.close()


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(64)
    print("ready", flush=True)
    while True:
        raw, _ = s.accept()
        threading.Thread(target=conn, args=(ctx, raw), daemon=True).start()


main()
