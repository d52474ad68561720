# A backend for the proxy's retry tests: on each connection it answers the
# first request (keep-alive, so the proxy pools the connection) and, for
# every later one, reads it whole, writes "METHOD PATH" to the log file and
# closes without a byte of answer, as a backend that processed a request
# and then died would.
# usage: python3 once.py PORT LOGFILE
import socket
import sys
import threading


def read_request(c, buf):
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None, b""
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    n = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            n = int(value.strip())
    while len(rest) < n:
        d = c.recv(65536)
        if not d:
            return None, b""
        rest += d
    return lines[0], rest[n:]


def serve(c, log):
    buf, first = b"", True
    try:
        while True:
            line, buf = read_request(c, buf)
            if line is None:
                return
            method, path = line.split(" ")[:2]
            with open(log, "a") as f:
                f.write("%s %s %s\n" % (method, path, "answered" if first else "dropped"))
            if not first:
                return
            first = False
            body = ("%s %s\n" % (method, path)).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))
    except OSError:
        pass
    finally:
        c.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(64)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn, sys.argv[2]), daemon=True).start()
