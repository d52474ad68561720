#!/usr/bin/env python3
"""A tiny recording TCP proxy for seed corpora (fuzz/record-corpus.sh).

recproxy.py LISTEN_PORT UPSTREAM_PORT PREFIX: accepts one connection at a
time on 127.0.0.1, relays it to 127.0.0.1:UPSTREAM_PORT, and writes what
each side sent in its first flight: PREFIX-N.c2s (the client's bytes until
the server first answers: the ClientHello) and PREFIX-N.s2c (the server's
bytes until the client next speaks: ServerHello .. Finished, or a
HelloRetryRequest). Runs until killed."""
import select
import socket
import sys

lport, uport, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(8)
n = 0
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", uport))
    n += 1
    c2s, s2c = bytearray(), bytearray()
    phase = 0  # 0: client's first flight, 1: server's first flight, 2: done
    socks = [c, u]
    while True:
        r, _, _ = select.select(socks, [], [], 10)
        if not r:
            break
        done = False
        for s in r:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                done = True
                break
            if s is c:
                if phase == 1:
                    phase = 2
                if phase == 0:
                    c2s += data
                u.sendall(data)
            else:
                if phase == 0:
                    phase = 1
                if phase == 1:
                    s2c += data
                c.sendall(data)
        if done:
            break
    for s in socks:
        s.close()
    if c2s:
        open("%s-%d.c2s" % (prefix, n), "wb").write(bytes(c2s))
    if s2c:
        open("%s-%d.s2c" % (prefix, n), "wb").write(bytes(s2c))
