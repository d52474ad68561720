# A listener that accepts and never speaks: for handshake and transfer
# timeouts. Prints "ready" once listening and "accept" for each connection,
# which it holds open until it is stopped.
import socket, sys

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)
    print("accept", flush=True)
