#!/usr/bin/env python3
"""make bench: moat against nginx and h2o on loopback, the crypto floor, and
the in-memory engine benchmark under callgrind. Prints one table and writes
bench/results/latest.json. It reports; it asserts nothing (docs/bench.md).

  python3 bench/run.py --install-only     install the peers (when root)
  python3 bench/run.py [--build B] [--quick] [--only moat,nginx,h2o]

Every process it starts runs in its own session and is killed at the end;
every load is bounded in count and in time."""
import argparse
import atexit
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import scale

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
PEERS = {  # binary -> Debian package
    "nginx": "nginx-light",
    "h2o": "h2o",
    "h2load": "nghttp2-client",
    "wrk": "wrk",
    "valgrind": "valgrind",
    "curl": "curl",
    "openssl": "openssl",
    "taskset": "util-linux",
}
SUITE = "TLS_AES_128_GCM_SHA256"
CLK = os.sysconf("SC_CLK_TCK")
STARTED = []  # Popen objects, each the leader of its own session
NOTES = []
SCALE = None  # the scale rows' settings (bench/scale.py), set by main()


def note(msg):
    NOTES.append(msg)
    print("bench: " + msg, flush=True)


def cleanup(*_):
    for p in STARTED:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 3
    for p in STARTED:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    STARTED.clear()


def on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


# ---------------------------------------------------------------- install
def install(quiet=False):
    """Installs missing peers when root; returns {binary: status}."""
    status = {}
    missing = [b for b in PEERS if not shutil.which(b)]
    if missing and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for b in missing:
            pkg = PEERS[b]
            # One package at a time, so one that is missing cannot stop the rest.
            r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg],
                               env=env, timeout=600, capture_output=True, text=True)
            if r.returncode and not quiet:
                pol = subprocess.run(["apt-cache", "policy", pkg], capture_output=True, text=True)
                note(f"{pkg} could not be installed: {r.stderr.strip().splitlines()[-1:]} "
                     f"(apt-cache policy: {' '.join(pol.stdout.split())[:200]})")
    for b in PEERS:
        status[b] = "ok" if shutil.which(b) else "missing"
    return status


# ---------------------------------------------------------------- helpers
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listen(port, proc, secs=15):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def raise_nofile():
    """Soft file limit up to the hard one (20000 in this workplace)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


def session_pids(sid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[3]) == sid:
            pids.append(int(d))
    return pids


def cpu_secs(sid):
    """utime + stime of every process of the server's session, in seconds."""
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK


def rss_kb(sid):
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def pin(core, ncpu):
    return ["taskset", "-c", str(core)] if ncpu >= 2 and shutil.which("taskset") else []


def run(cmd, timeout, env=None, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, 124, e.stdout or "", (e.stderr or "") + " (timed out)")


# ---------------------------------------------------------------- fixtures
def make_fixtures(tmp, big_bytes):
    certs = os.path.join(tmp, "certs")
    site = os.path.join(tmp, "site")
    os.makedirs(certs)
    os.makedirs(site)
    os.chmod(tmp, 0o755)
    for name, alg in (("p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                      ("rsa", ["-newkey", "rsa:2048"])):
        r = run(["openssl", "req", "-x509", *alg, "-nodes", "-keyout", f"{certs}/{name}.key",
                 "-out", f"{certs}/{name}.pem", "-days", "30", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], 60)
        if r.returncode:
            sys.exit("bench: cannot make certificates: " + r.stderr)
        os.chmod(f"{certs}/{name}.key", 0o644)  # nginx/h2o workers may drop privileges
    with open(f"{site}/small.txt", "w") as f:
        f.write("moat bench: a small response body of about one hundred bytes, the same for every server.\n")
    with open(f"{site}/big.bin", "wb") as f:
        f.truncate(big_bytes)  # sparse: served from the page cache, same for all
    # Read it once now, so the first server measured does not pay for
    # filling the page cache (the kernel zeroing the sparse file's pages
    # costs more than the TLS itself) and the others get it free.
    with open(f"{site}/big.bin", "rb") as f:
        while f.read(1 << 20):
            pass
    for d in (certs, site):
        os.chmod(d, 0o755)
    return certs, site


# ---------------------------------------------------------------- servers
# One nginx worker, logs off, keep-alive without limit; {body} is the
# server blocks (format with d= its directory). bench/scale.py uses it too.
NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 30000; use epoll; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    sendfile on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
{body}
}}
"""


def start_server(name, kind, tmp, certs, site, build, ncpu, group="x25519"):
    port = free_port()
    cert, key = f"{certs}/{kind}.pem", f"{certs}/{kind}.key"
    logdir = os.path.join(tmp, f"{name}-{kind}-{group}")
    os.makedirs(logdir, exist_ok=True)
    if name == "moat":
        cmd = [os.path.join(build, "moat"), "serve", site, "--listen", f"127.0.0.1:{port}",
               "--cert", cert, "--key", key, "--ciphers", SUITE, "--groups", group,
               "--workers", "1", "--max-conns", "30000"]  # nginx: worker_connections 30000
    elif name == "nginx":
        conf = os.path.join(logdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=logdir, body=f"""    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve X25519;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;
        ssl_conf_command Ciphersuites {SUITE};
        root {site};
    }}"""))
        cmd = ["nginx", "-e", f"{logdir}/error.log", "-p", logdir, "-c", conf]
    elif name == "bare":  # plain TCP, no TLS: the floor under every row (bench/bare.c)
        cmd = [os.path.join(build, "bench", "bare"), "-p", str(port), "-r", site]
    elif name == "h2o":
        conf = os.path.join(logdir, "h2o.conf")
        with open(conf, "w") as f:
            f.write(f"""num-threads: 1
max-connections: 30000
http1-request-timeout: 120
error-log: {logdir}/error.log
pid-file: {logdir}/h2o.pid
user: root
hosts:
  default:
    listen:
      host: 127.0.0.1
      port: {port}
      ssl:
        certificate-file: {cert}
        key-file: {key}
        minimum-version: TLSv1.2
        cipher-suite: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
        ocsp-update-interval: 0
        neverbleed: OFF
    paths:
      /:
        file.dir: {site}
""")
        cmd = ["h2o", "-c", conf]
    else:
        raise ValueError(name)
    full = pin(0, ncpu) + cmd
    out = open(os.path.join(logdir, "stdout"), "w")
    err = open(os.path.join(logdir, "stderr"), "w")
    p = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                         start_new_session=True, preexec_fn=raise_nofile)
    STARTED.append(p)
    if not wait_listen(port, p):
        with open(os.path.join(logdir, "stderr")) as f:
            msg = f.read()[-400:]
        stop_server(p)
        note(f"{name} ({kind}) did not start: {msg.strip()}")
        return None, None, " ".join(full)
    return p, port, " ".join(full)


def stop_server(p):
    if p is None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    if p in STARTED:
        STARTED.remove(p)


# ---------------------------------------------------------------- loads
def measured(p, fn):
    """Runs fn() and returns (its result, server CPU seconds spent meanwhile)."""
    c0 = cpu_secs(p.pid)
    res = fn()
    time.sleep(0.2)  # let the server finish closing
    return res, cpu_secs(p.pid) - c0


def check_negotiation(port, openssl_conf):
    """What an OpenSSL client forced by our OPENSSL_CONF (wrk, curl) gets."""
    env = dict(os.environ, OPENSSL_CONF=openssl_conf)
    r = run(["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}",
             "-servername", "localhost"], 10, env=env, input="")
    text = r.stdout + r.stderr
    proto = re.search(r"Protocol version: (\S+)", text)
    suite = re.search(r"Ciphersuite: (\S+)", text)
    group = re.search(r"(?:Peer|Server) Temp Key: ([^,\n]+)", text)
    return {"protocol": proto and proto.group(1), "suite": suite and suite.group(1),
            "group": group and group.group(1)}


def load_handshakes(p, port, build, n, ncpu, resume=False, limit=180, group="x25519", tls12=False,
                    plain=False):
    """hsload: n connections, each a handshake and one GET (plain: no TLS,
    against bare). Server CPU and client CPU (the hsload processes) per
    connection, and what the client saw of each: TCP segments from the
    server, those with data, and its reads that returned data."""
    cmd = pin(1, ncpu) + [os.path.join(build, "bench", "hsload"), "-p", str(port), "-n", str(n),
                          "-c", "4", "-t", str(limit)]
    cmd += ["-P"] if plain else ["-g", group]
    cmd += (["-r"] if resume else []) + (["-V", "1.2"] if tls12 else [])
    r, cpu = measured(p, lambda: run(cmd, limit + 30))
    m = re.search(r"ok=(\d+) fail=(\d+) resumed=(\d+) secs=([\d.]+) cpu=([\d.]+) "
                  r"segs=(\d+) dsegs=(\d+) reads=(\d+) us_connect=([\d.]+) us_flight=([\d.]+) "
                  r"us_response=([\d.]+)", r.stdout)
    if not m:
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": " ".join(cmd)}
    ok, fail, resumed, secs, ccpu = int(m[1]), int(m[2]), int(m[3]), float(m[4]), float(m[5])
    return {"ok": ok, "failed": fail, "resumed": resumed, "client_secs": secs,
            "server_cpu_s": round(cpu, 3),
            "us_per_handshake": round(cpu / ok * 1e6, 1) if ok else None,
            "handshakes_per_s": round(ok / secs, 1) if secs else None,
            "client_cpu_s": ccpu, "client_us_per_handshake": round(ccpu / ok * 1e6, 1) if ok else None,
            "server_segs_per_handshake": round(int(m[6]) / ok, 2) if ok else None,
            "server_data_segs_per_handshake": round(int(m[7]) / ok, 2) if ok else None,
            "client_reads_per_handshake": round(int(m[8]) / ok, 2) if ok else None,
            "client_us_connect": float(m[9]),
            "client_us_flight": None if plain else float(m[10]),
            "client_us_response": None if plain else float(m[11]),
            "command": " ".join(cmd)}


def wrk_latency(text):
    """Percentile -> microseconds from wrk --latency's distribution."""
    scale = {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}
    return {int(q): round(float(v) * scale[u], 1)
            for q, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}


def load_keepalive(p, port, secs, ncpu, openssl_conf, conns=50, plain=False):
    """wrk -t1 -c CONNS --latency on the small file; server CPU per request,
    requests per second and the latency p50 and p99."""
    scheme = "http" if plain else "https"
    cmd = pin(1, ncpu) + ["wrk", "-t", "1", "-c", str(conns), "-d", f"{secs}s", "--latency",
                          f"{scheme}://127.0.0.1:{port}/small.txt"]
    env = None if plain else dict(os.environ, OPENSSL_CONF=openssl_conf)
    r, cpu = measured(p, lambda: run(cmd, secs + 60, env=env))
    m = re.search(r"(\d+) requests in", r.stdout)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errs = re.search(r"Socket errors:.*", r.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    if not m or int(m[1]) == 0:
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": "OPENSSL_CONF=... " + " ".join(cmd)}
    n = int(m[1])
    lat = wrk_latency(r.stdout)
    return {"requests": n, "server_cpu_s": round(cpu, 3), "us_per_request": round(cpu / n * 1e6, 2),
            "requests_per_s": float(rps[1]) if rps else None, "connections": conns,
            "p50_us": lat.get(50), "p99_us": lat.get(99),
            "socket_errors": errs[0] if errs else None, "non_2xx": int(non2xx[1]) if non2xx else 0,
            "command": ("" if plain else f"OPENSSL_CONF={openssl_conf} ") + " ".join(cmd)}


def load_bulk(p, port, big, times, ncpu, plain=False):
    # --http1.1: every server offers h2 and curl would take it; the h2 rows
    # measure that.
    tls = [] if plain else ["-k", "--http1.1", "--tlsv1.3", "--tls13-ciphers", SUITE, "--curves", "X25519"]
    cmd = pin(1, ncpu) + ["curl", "-sS", "-o", "/dev/null", *tls,
                          "-w", "%{size_download} %{speed_download}\n",
                          f"{'http' if plain else 'https'}://127.0.0.1:{port}/big.bin"]

    def go():
        outs = []
        for _ in range(times):
            outs.append(run(cmd, 300))
        return outs

    outs, cpu = measured(p, go)
    got, speeds = 0, []
    for r in outs:
        parts = r.stdout.split()
        if r.returncode or len(parts) < 2 or int(parts[0]) != big:
            return {"error": f"curl exit {r.returncode}: {(r.stdout + r.stderr).strip()[-200:]}",
                    "command": " ".join(cmd)}
        got += int(parts[0])
        speeds.append(float(parts[1]))
    return {"bytes": got, "server_cpu_s": round(cpu, 3), "cpu_s_per_gb": round(cpu / (got / 1e9), 4),
            "mb_per_s": round(sum(speeds) / len(speeds) / 1e6, 1),
            "command": f"{times} x " + " ".join(cmd)}


def load_h2(p, port, path, n, conns, streams, ncpu, size=None, plain=False):
    """h2load over HTTP/2: n GETs of path on conns connections, streams
    each at once; server CPU per request (and per GB when size is given).
    plain: HTTP/1.1 over plain TCP, pipelined streams deep (h2load --h1),
    against bare."""
    cmd = pin(1, ncpu) + ["h2load", *(["--h1"] if plain else []), "-n", str(n), "-c", str(conns),
                          "-m", str(streams), f"{'http' if plain else 'https'}://127.0.0.1:{port}{path}"]
    r, cpu = measured(p, lambda: run(cmd, 600))
    m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", r.stdout)
    rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s", r.stdout)
    proto = re.search(r"Application protocol: (\S+)", r.stdout)
    if not m or int(m[2]) != n or not proto or proto[1] != ("http/1.1" if plain else "h2"):
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": " ".join(cmd)}
    out = {"requests": n, "server_cpu_s": round(cpu, 3), "us_per_request": round(cpu / n * 1e6, 2),
           "requests_per_s": float(rps[1]) if rps else None, "command": " ".join(cmd)}
    if size:
        mult = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}
        out["cpu_s_per_gb"] = round(cpu / (n * size / 1e9), 4)
        out["mb_per_s"] = round(float(rps[2]) * mult.get(rps[3], 1) / 1e6, 1) if rps else None
    return out


def warm(port, build, ncpu):
    """A few whole connections first, so that memory a server touches once
    (libcrypto's code and tables, first-use caches) is not counted as the
    idle connections' own."""
    run(pin(1, ncpu) + [os.path.join(build, "bench", "hsload"), "-p", str(port), "-n", "64", "-c", "1",
                        "-t", "30"], 60)


def hold_open(port, build, n, ncpu, flags=(), limit=120, preexec=None, wait=150):
    """Starts bench/hold; returns (Popen, its "held" line, command) once all
    n are open (or it gave up)."""
    cmd = pin(1, ncpu) + [os.path.join(build, "bench", "hold"), "-p", str(port), "-n", str(n),
                          "-t", str(limit)] + list(flags)
    h = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=preexec or raise_nofile)
    STARTED.append(h)
    end, line = time.time() + wait, ""
    while time.time() < end:
        line = h.stdout.readline()
        if line.startswith("held") or not line:
            break
    return h, line, " ".join(cmd)


def hold_close(h, timeout=60):
    """Releases the held connections; returns how many were still alive."""
    try:
        h.stdin.write("\n")
        h.stdin.flush()
    except OSError:
        pass
    try:
        tail = h.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(h.pid, signal.SIGKILL)
        tail = h.communicate()[0]
    if h in STARTED:
        STARTED.remove(h)
    a = re.search(r"alive (\d+)", tail or "")
    return int(a[1]) if a else None


def load_idle(p, port, build, n, ncpu):
    warm(port, build, ncpu)
    time.sleep(0.5)
    before = rss_kb(p.pid)
    h, line, cmd = hold_open(port, build, n, ncpu)
    res = {}
    m = re.match(r"held (\d+) failed (\d+)", line)
    if m:
        time.sleep(2.0)  # every Finished read, and the last connections settled idle
        after = rss_kb(p.pid)
        time.sleep(1.0)
        held, failed = int(m[1]), int(m[2])
        res = {"held": held, "failed": failed, "rss_before_kb": before, "rss_after_kb": after,
               "bytes_per_conn": round((after - before) * 1024 / held) if held else None}
    res["alive_at_end"] = hold_close(h, 30)
    res["command"] = cmd + "  (ulimit -n raised to the hard limit)"
    if not m:
        res["error"] = f"hold said: {line.strip()!r}"
    return res


def response_bytes(port, path):
    """Bytes of a plain server's whole keep-alive answer (head and body) to
    one GET, as wrk gets it."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), 5) as c:
        c.settimeout(5)
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"\r\ncontent-length: *(\d+)", data[:end], re.I)
                if m and len(data) >= end + 4 + int(m[1]):
                    return end + 4 + int(m[1])
            b = c.recv(65536)
            if not b:
                return len(data)
            data += b


def keepalive_loads(name, p, port, secs, ncpu, openssl_conf, plain=False):
    """The keep-alive row at 50 connections (CPU, rate, latency) and at 1
    (rate, latency)."""
    out = {}
    for key, conns in (("keepalive", 50), ("keepalive1", 1)):
        print(f"bench: {name}: keep-alive, {conns} connection{'s' if conns > 1 else ''} (wrk)", flush=True)
        out[key] = load_keepalive(p, port, secs, ncpu, openssl_conf, conns, plain)
    return out


def measure_bare(p, port, build, n, wrk_secs, big, times, h2n, ncpu, status):
    """The same clients over plain TCP against bench/bare: what the kernel and
    the socket calls cost, the part of every row's floor that is not crypto."""
    res = {"small_response_bytes": response_bytes(port, "/small.txt")}
    print("bench: bare: connections, one GET each (hsload -P)", flush=True)
    res["full"] = load_handshakes(p, port, build, n, ncpu, plain=True)
    if status["wrk"] == "ok":
        res.update(keepalive_loads("bare", p, port, wrk_secs, ncpu, None, plain=True))
    print("bench: bare: bulk", flush=True)
    res["bulk"] = load_bulk(p, port, big, times, ncpu, plain=True)
    if status["h2load"] == "ok":  # the h2 rows' floor: HTTP/1.1 pipelined as deep as the streams
        print("bench: bare: pipelined GETs and bulk (h2load --h1)", flush=True)
        res["h2small"] = load_h2(p, port, "/small.txt", h2n, 50, 10, ncpu, plain=True)
        res["h2bulk"] = load_h2(p, port, "/big.bin", times, 1, 1, ncpu, size=big, plain=True)
    return res


# ---------------------------------------------------------------- floor
def crypto_floor(secs, ncpu):
    def speed(*args):
        r = run(pin(0, ncpu) + ["openssl", "speed", "-mr", "-seconds", str(secs), *args], 120)
        return r.stdout + r.stderr

    out = speed("ecdhx25519")
    x = re.search(r"^\+F5:\d+:253:([\d.]+)", out, re.M)
    out = speed("ecdsap256")
    e = re.search(r"^\+F4:\d+:256:([\d.]+):([\d.]+)", out, re.M)
    out = speed("rsa2048")
    rs = re.search(r"^\+F2:\d+:2048:([\d.]+):([\d.]+)", out, re.M)
    out = speed("-evp", "aes-128-gcm", "-bytes", "16384")
    a = re.search(r"^\+F:\d+:AES-128-GCM:([\d.]+)", out, re.M)
    out = speed("-evp", "aes-128-gcm", "-bytes", "256")
    a256 = re.search(r"^\+F:\d+:AES-128-GCM:([\d.]+)", out, re.M)
    if not (x and e and rs and a and a256):
        note("openssl speed output not understood; no floor")
        return None
    x25519_us = 1e6 / float(x[1])
    ecdsa_us = 1e6 / float(e[1])
    rsa_us = 1e6 / float(rs[1])
    aes_bps = float(a[1])
    # One AEAD call costs a fixed part and a part per byte: the line through
    # the 256-byte and the 16 KB points, for the small records of a GET.
    t256, t16k = 256 / float(a256[1]) * 1e6, 16384 / aes_bps * 1e6
    per_byte = (t16k - t256) / (16384 - 256)
    fixed = max(0.0, t256 - 256 * per_byte)
    # Server side of a full handshake: one x25519 key generation and one
    # x25519 derivation (speed's op is one scalar multiplication, which is
    # what each costs) and one signature. Hashes and HKDF are left out.
    return {
        "x25519_us": round(x25519_us, 2), "ecdsap256_sign_us": round(ecdsa_us, 2),
        "rsa2048_sign_us": round(rsa_us, 2), "aes128gcm_16k_bytes_per_s": round(aes_bps),
        "aes128gcm_256_bytes_per_s": round(float(a256[1])),
        "aead_call_us": round(fixed, 4), "aead_us_per_byte": round(per_byte, 6),
        "full_handshake_us": round(2 * x25519_us + ecdsa_us, 1),
        "resumed_handshake_us": round(2 * x25519_us, 1),
        "rsa_full_handshake_us": round(2 * x25519_us + rsa_us, 1),
        "bulk_cpu_s_per_gb": round(1e9 / aes_bps, 4),
        "commands": [f"openssl speed -mr -seconds {secs} {a_}" for a_ in
                     ("ecdhx25519", "ecdsap256", "rsa2048", "-evp aes-128-gcm -bytes 16384",
                      "-evp aes-128-gcm -bytes 256")],
    }


def keepalive_floor(floor, results):
    """Keep-alive GET: the server opens the request's record and seals the
    response's: wrk's request, and bare's answer (the others' size; 314
    bytes when bare was not run)."""
    req = len("GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1:65535\r\n\r\n")
    resp = results.get("bare", {}).get("small_response_bytes") or 314
    floor["keepalive_bytes"] = {"request": req, "response": resp}
    floor["keepalive_request_us"] = round(2 * floor["aead_call_us"] + (req + resp) * floor["aead_us_per_byte"], 3)


def kex_costs(build, ncpu, quick):
    """Each key-exchange step alone, in microseconds (inmem kex, CPU 0):
    ML-KEM-768 keygen, encaps, decaps, X25519 keygen, and each side of an
    x25519 and an X25519MLKEM768 exchange."""
    n = 200 if quick else 3000
    cmd = pin(0, ncpu) + [os.path.join(build, "bench", "inmem"), "kex", str(n)]
    r = run(cmd, 300)
    m = re.search(r'^kex n=\d+ impl="([^"]*)" (.*)$', r.stdout, re.M)
    if not m:
        note(f"inmem kex output not understood: {(r.stdout + r.stderr).strip()[-200:]}")
        return None
    out = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", m[2])}
    out["mlkem_impl"] = m[1]
    out["command"] = " ".join(cmd)
    return out


# ---------------------------------------------------------------- callgrind
def callgrind(build, certs, tmp, quick):
    inmem = os.path.join(build, "bench", "inmem")
    binpath = os.path.realpath(inmem)
    nh, nr = (20, 50) if quick else (200, 2000)
    runs = [("full", "p256", nh, "server"), ("full", "p256", nh, "client"),
            ("resume", "p256", nh, "server"), ("full", "rsa", nh // 2, "server"),
            ("records", "p256", nr, "server"), ("records", "p256", nr, "client")]
    out = {}
    for mode, kind, n, side in runs:
        f = os.path.join(tmp, f"cg.{mode}.{kind}.{side}")
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--dump-instr=no",
               f"--callgrind-out-file={f}", inmem, mode, str(n), f"{certs}/{kind}.pem",
               f"{certs}/{kind}.key", side]
        r = run(cmd, 900)
        if r.returncode or not os.path.exists(f):
            note(f"callgrind {mode} {kind} {side} failed: {r.stderr.strip()[-200:]}")
            continue
        ann = run(["callgrind_annotate", "--threshold=100", "--inclusive=no", f], 120).stdout
        total, objs, funcs = 0, {}, []
        for line in ann.splitlines():
            m = re.match(r"\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?PROGRAM TOTALS", line)
            if m:
                total = int(m[1].replace(",", ""))
                continue
            m = re.match(r"\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?(\S.*?):(\S+) \[(.*)\]\s*$", line)
            if not m:
                continue
            ir, fn, obj = int(m[1].replace(",", "")), m[3], m[4]
            if "libcrypto" in obj:
                cat = "libcrypto"
            elif os.path.realpath(obj) == binpath:
                cat = "moat"
            elif "libc.so" in obj or "libc-" in obj:
                cat = "libc"
            else:
                cat = "other"
            objs[cat] = objs.get(cat, 0) + ir
            if cat in ("moat", "libc"):
                funcs.append((ir, fn, cat))
        funcs.sort(reverse=True)
        unit = "handshake" if mode != "records" else "record"
        key = f"{mode}_{kind}_{side}"
        out[key] = {
            "per": unit, "count": n, "total_ir": total,
            "ir_per_op": {c: round(v / n) for c, v in sorted(objs.items())},
            "moat_share_pct": round(100 * objs.get("moat", 0) / total, 1) if total else None,
            "moat_libc_share_pct": round(100 * (objs.get("moat", 0) + objs.get("libc", 0)) / total, 1)
            if total else None,
            "top_self": [{"fn": fn, "obj": cat, "ir_per_op": round(ir / n)} for ir, fn, cat in funcs[:15]],
            "command": " ".join(cmd),
        }
    return out


# ---------------------------------------------------------------- report
def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


# One row per load: key in the results, label, figure, digits, the bare row
# whose CPU is its kernel floor, the crypto floor's key, and the target
# (issue 20): ("floor", x) moat/floor at most x; ("abs", x) the figure at most
# x; ("row", k, x) at most x times moat's own row k.
ROWS = [
    ("full", "full handshake + GET, P-256, x25519 (us CPU/hs)", "us_per_handshake", 1, "full",
     "full_handshake_us", ("floor", 1.25)),
    ("resume", "resumed handshake + GET (us CPU/hs)", "us_per_handshake", 1, "full",
     "resumed_handshake_us", ("floor", 1.25)),
    ("keepalive", "keep-alive GET, wrk -c50 (us CPU/req)", "us_per_request", 2, "keepalive",
     "keepalive_request_us", ("floor", 1.3)),
    ("bulk", "bulk 1 GiB x3 (CPU s/GB)", "cpu_s_per_gb", 3, "bulk", "bulk_cpu_s_per_gb", ("floor", 1.5)),
    ("h2small", "h2 GET, h2load -n100000 -c50 -m10 (us CPU/req)", "us_per_request", 2, "h2small",
     "keepalive_request_us", None),
    ("h2bulk", "h2 bulk 1 GiB x3, one stream each (CPU s/GB)", "cpu_s_per_gb", 3, "h2bulk",
     "bulk_cpu_s_per_gb", None),
    ("idle", "idle conn, 5000 held (RSS bytes/conn)", "bytes_per_conn", 0, None, None, ("abs", 2048)),
    ("idle10k", "10,000 held at once (alive/10000)", "alive_at_end", 0, None, None, None),
    ("rsa", "full handshake + GET, RSA-2048 (us CPU/hs)", "us_per_handshake", 1, "full",
     "rsa_full_handshake_us", ("floor", 1.25)),
    ("full_pq", "full handshake + GET, P-256, X25519MLKEM768 (us CPU/hs)", "us_per_handshake", 1, "full",
     "full_pq_handshake_us", ("row", "full", 1.25)),
    ("full12", "full handshake + GET, P-256, x25519, TLS 1.2 (us CPU/hs)", "us_per_handshake", 1, "full",
     "full_handshake_us", None),
]
PEER_NAMES = ("nginx", "h2o")


def all_rows():
    return ROWS + scale.rows(SCALE)


def figure(results, server, key, fig):
    r = results.get(server, {}).get(key)
    return r.get(fig) if isinstance(r, dict) else None


def floors(results, crypto):
    """Per row: the bare server's CPU for the same clients, the crypto
    floor, and their sum (None where either is missing)."""
    out = {}
    for key, _label, fig, _dg, bare_key, ckey, _target in all_rows():
        if not bare_key:
            continue
        b = figure(results, "bare", bare_key, fig)
        c = crypto.get(ckey) if crypto else None
        out[key] = {"bare": b, "bare_row": bare_key, "crypto": c, "crypto_key": ckey,
                    "floor": round(b + c, 4) if b is not None and c is not None else None}
    return out


def verdicts(results, fl):
    """Per row with a target: what it asks, moat's ratio, met or missed."""
    out = {}
    for key, _label, fig, _dg, _b, _c, target in all_rows():
        m = figure(results, "moat", key, fig)
        if not target:
            continue
        if target[0] == "floor":
            f = fl.get(key, {}).get("floor")
            ratio = m / f if m is not None and f else None
            what, limit = f"<={target[1]}x floor", target[1]
        elif target[0] == "abs":
            ratio, what, limit = m, f"<={target[1]:,}", target[1]
        else:
            base = figure(results, "moat", target[1], fig)
            ratio = m / base if m is not None and base else None
            what, limit = f"<={target[2]}x {target[1]}", target[2]
        out[key] = {"target": what, "value": round(ratio, 3) if ratio is not None else None,
                    "met": None if ratio is None else ratio <= limit}
    return out


def render(head, lines):
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for r in lines:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def met(v):
    return "-" if v is None else ("met" if v else "MISSED")


def table(results, servers, fl, verd):
    """Server CPU per unit: each server, ratios to moat (above 1: moat spent
    less), the floor (bare + crypto), moat/floor and the target."""
    tls = [s for s in servers if s != "bare"]
    head = ["work"] + tls + [f"{s}/moat" for s in tls if s != "moat"] + \
        ["bare", "crypto", "floor", "moat/floor", "target", "met"]
    lines = []
    for key, label, fig, dg, _b, _c, _t in all_rows():
        cells = [label]
        vals = {}
        for s in tls:
            r = results.get(s, {}).get(key)
            if r is None:
                cells.append("n/a")
                continue
            if "error" in r and r.get(fig) is None:
                cells.append("error")
                continue
            v = r.get(fig)
            vals[s] = v
            c = fmt(v, dg)
            if key == "idle10k" and r.get("failed"):
                c += f" ({r['failed']} failed)"
            cells.append(c)
        m = vals.get("moat")
        for s in tls:
            if s == "moat":
                continue
            v = vals.get(s)
            cells.append(f"{v / m:.2f}" if m and v is not None and key != "idle10k" else "-")
        f = fl.get(key, {})
        fv = f.get("floor")
        cells += [fmt(f.get("bare"), dg), fmt(f.get("crypto"), dg), fmt(fv, dg),
                  f"{m / fv:.2f}" if fv and m else "-"]
        v = verd.get(key)
        cells += [v["target"], met(v["met"])] if v else ["-", "-"]
        lines.append(cells)
    return render(head, lines)


# Throughput and latency, with the same clients: label, load key, figure,
# digits, and which way is better for moat against the best peer ("more",
# "less", or None: shown only).
RATE_ROWS = [
    ("full handshakes/s (hsload -c4)", "full", "handshakes_per_s", 0, "more"),
    ("resumed handshakes/s", "resume", "handshakes_per_s", 0, "more"),
    ("RSA-2048 handshakes/s", "rsa", "handshakes_per_s", 0, "more"),
    ("TLS 1.2 handshakes/s", "full12", "handshakes_per_s", 0, "more"),
    ("X25519MLKEM768 handshakes/s", "full_pq", "handshakes_per_s", 0, None),
    ("keep-alive req/s, wrk -c50", "keepalive", "requests_per_s", 0, "more"),
    ("keep-alive req/s, wrk -c1", "keepalive1", "requests_per_s", 0, "more"),
    ("h2 req/s, h2load -c50 -m10", "h2small", "requests_per_s", 0, "more"),
    ("bulk MB/s (curl)", "bulk", "mb_per_s", 0, "more"),
    ("h2 bulk MB/s", "h2bulk", "mb_per_s", 0, "more"),
    ("keep-alive latency p50, 1 conn (us)", "keepalive1", "p50_us", 0, "less"),
    ("keep-alive latency p99, 1 conn (us)", "keepalive1", "p99_us", 0, "less"),
    ("keep-alive latency p50, 50 conns (us)", "keepalive", "p50_us", 0, "less"),
    ("keep-alive latency p99, 50 conns (us)", "keepalive", "p99_us", 0, "less"),
    ("client CPU per full handshake (us)", "full", "client_us_per_handshake", 1, None),
    ("client CPU per resumed handshake (us)", "resume", "client_us_per_handshake", 1, None),
    ("server TCP segments per full handshake", "full", "server_segs_per_handshake", 2, None),
    ("  of them with data (full)", "full", "server_data_segs_per_handshake", 2, None),
    ("client reads with data per full handshake", "full", "client_reads_per_handshake", 2, None),
    ("wall us: ClientHello sent to handshake done", "full", "client_us_flight", 0, None),
    ("wall us: request sent to response in", "full", "client_us_response", 0, None),
    ("server TCP segments per resumed handshake", "resume", "server_segs_per_handshake", 2, None),
    ("  of them with data (resumed)", "resume", "server_data_segs_per_handshake", 2, None),
]


def rate_verdicts(results):
    out = {}
    for label, key, fig, _dg, better in RATE_ROWS:
        m = figure(results, "moat", key, fig)
        peers = [v for v in (figure(results, s, key, fig) for s in PEER_NAMES) if v is not None]
        best = (max(peers) if better == "more" else min(peers)) if peers and better else None
        ok = None
        if best is not None and m is not None:
            ok = m >= best if better == "more" else m <= best
        out[label] = {"moat": m, "best_peer": best, "met": ok,
                      "target": {"more": ">= best peer", "less": "<= best peer"}.get(better, "-")}
    return out


def rate_table(results, servers, rv):
    head = ["throughput and latency"] + servers + ["best peer", "target", "met"]
    lines = []
    for label, key, fig, dg, _better in RATE_ROWS:
        cells = [label] + [fmt(figure(results, s, key, fig), dg) for s in servers]
        v = rv[label]
        cells += [fmt(v["best_peer"], dg), v["target"], met(v["met"])]
        lines.append(cells)
    return render(head, lines)


def cg_table(cg):
    out = ["in-memory engine, callgrind instructions per operation (only the named side counted):",
           f"{'run':28} {'total':>11} {'libcrypto':>11} {'moat':>10} {'libc':>9} {'moat %':>7} {'moat+libc %':>12}"]
    for k, v in cg.items():
        ir = v["ir_per_op"]
        tot = sum(ir.values())
        out.append(f"{k + ' /' + v['per']:28} {tot:>11,} {ir.get('libcrypto', 0):>11,} {ir.get('moat', 0):>10,} "
                   f"{ir.get('libc', 0):>9,} {v['moat_share_pct']:>7} {v['moat_libc_share_pct']:>12}")
    for k in ("full_p256_server", "records_p256_server"):
        if k in cg:
            out.append(f"top self cost in moat and libc, {k} (instructions per {cg[k]['per']}):")
            for t in cg[k]["top_self"][:10]:
                out.append(f"  {t['ir_per_op']:>9,}  {t['fn']} [{t['obj']}]")
    return "\n".join(out)


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "host": platform.node()}


def version(cmd):
    r = run(cmd, 10)
    return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"


def note_failures(server, res):
    for k, v in res.items():
        if isinstance(v, dict) and v.get("error"):
            note(f"{server} {k}: {v['error']}")
        if isinstance(v, dict) and v.get("failed"):
            note(f"{server} {k}: {v['failed']} connections failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--only", default="moat,nginx,h2o,bare",
                    help="servers to measure; bare is the plain-TCP floor server (bench/bare.c)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", default=os.path.join(RESULTS, "latest.json"),
                    help="where the JSON goes (default bench/results/latest.json)")
    a = ap.parse_args()
    if a.install_only:
        st = install()
        for b, s in st.items():
            if s != "ok":
                print(f"bench: {b} ({PEERS[b]}) is missing and could not be installed"
                      + ("" if os.geteuid() == 0 else " (not root)"))
        return 0

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(cleanup)
    raise_nofile()
    build = os.path.abspath(a.build)
    ncpu = os.cpu_count() or 1
    quick = a.quick
    N = 300 if quick else 5000
    WRK_SECS = 2 if quick else 10
    BIG = (64 << 20) if quick else (1 << 30)
    TIMES = 1 if quick else 3
    H2N = 10000 if quick else 100000
    IDLE, IDLE2 = (300, 1000) if quick else (5000, 10000)
    status = {b: ("ok" if shutil.which(b) else "missing") for b in PEERS}
    servers = [s for s in a.only.split(",") if s]
    for s in list(servers):
        if s not in ("moat", "bare") and status.get(s) != "ok":
            note(f"{s} is not installed ({PEERS[s]}): its column is n/a. "
                 f"apt-cache policy {PEERS[s]} says whether Debian has it; run make bench as root to install it.")
    if ncpu >= 2:
        note("server pinned to CPU 0, load to CPU 1 (taskset)")
    else:
        note(f"only {ncpu} CPU: server and load share it (figures are noisier)")

    tmp = tempfile.mkdtemp(prefix="moat-bench.")
    atexit.register(shutil.rmtree, tmp, True)
    certs, site = make_fixtures(tmp, BIG)
    ossl_conf = os.path.join(tmp, "openssl-client.cnf")
    with open(ossl_conf, "w") as f:
        f.write(f"""openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = {SUITE}
Groups = X25519
""")

    global SCALE
    SCALE = scale.context(quick, build, tmp, site, certs, ncpu, ossl_conf, N, WRK_SECS, IDLE)
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"bench: {'quick mode, ' if quick else ''}{N} handshakes per load, wrk {WRK_SECS}s, "
          f"{BIG >> 20} MiB x{TIMES}, {IDLE}/{IDLE2} idle connections", flush=True)
    floor = crypto_floor(1 if quick else 3, ncpu) if status["openssl"] == "ok" else None
    kex = kex_costs(build, ncpu, quick)
    if floor and kex:
        # The hybrid's server side adds one encapsulation to the x25519 one;
        # OpenSSL 3.0's speed has no ML-KEM, so moat's own figure is used.
        floor["full_pq_handshake_us"] = round(floor["full_handshake_us"] + kex["mlkem768_encaps_us"], 1)
    results, commands = {}, {}
    for s in servers:
        res = results.setdefault(s, {})
        if s not in ("moat", "bare") and status.get(s) != "ok":
            continue
        if s == "bare":
            p, port, cmd = start_server(s, "plain", tmp, certs, site, build, ncpu)
            commands["bare (plain TCP)"] = cmd
            if p:
                res.update(measure_bare(p, port, build, N, WRK_SECS, BIG, TIMES, H2N, ncpu, status))
                stop_server(p)
            note_failures(s, res)
            continue
        p, port, cmd = start_server(s, "p256", tmp, certs, site, build, ncpu)
        commands[f"{s} (P-256)"] = cmd
        if not p:
            continue
        res["negotiated"] = check_negotiation(port, ossl_conf)
        print(f"bench: {s}: OpenSSL clients negotiate {res['negotiated']}", flush=True)
        print(f"bench: {s}: full handshakes", flush=True)
        res["full"] = load_handshakes(p, port, build, N, ncpu)
        print(f"bench: {s}: full handshakes, TLS 1.2", flush=True)
        res["full12"] = load_handshakes(p, port, build, N, ncpu, tls12=True)
        print(f"bench: {s}: resumed handshakes", flush=True)
        res["resume"] = load_handshakes(p, port, build, N, ncpu, resume=True)
        scale.per_server(sys.modules[__name__], SCALE, s, p, port, res)
        if res["resume"].get("ok") and res["resume"].get("resumed", 0) < res["resume"]["ok"] - 4:
            note(f"{s}: only {res['resume']['resumed']} of {res['resume']['ok']} handshakes resumed")
        if status["wrk"] == "ok":
            res.update(keepalive_loads(s, p, port, WRK_SECS, ncpu, ossl_conf))
        print(f"bench: {s}: bulk", flush=True)
        res["bulk"] = load_bulk(p, port, BIG, TIMES, ncpu)
        if status["h2load"] == "ok":
            print(f"bench: {s}: HTTP/2 GETs (h2load)", flush=True)
            res["h2small"] = load_h2(p, port, "/small.txt", H2N, 50, 10, ncpu)
            print(f"bench: {s}: HTTP/2 bulk (h2load)", flush=True)
            res["h2bulk"] = load_h2(p, port, "/big.bin", TIMES, 1, 1, ncpu, size=BIG)
        # Idle memory on a server just started: after the bulk loads a
        # server's heap has room freed that new connections would reuse,
        # and the growth would understate (or go below zero).
        if p.poll() is not None:
            note(f"{s} exited during the loads (status {p.returncode})")
        stop_server(p)
        p, port, cmd = start_server(s, "p256", tmp, certs, site, build, ncpu)
        if not p:
            continue
        print(f"bench: {s}: {IDLE} idle connections", flush=True)
        res["idle"] = load_idle(p, port, build, IDLE, ncpu)
        print(f"bench: {s}: {IDLE2} idle connections at once", flush=True)
        res["idle10k"] = load_idle(p, port, build, IDLE2, ncpu)
        if p.poll() is not None:
            note(f"{s} exited during the loads (status {p.returncode})")
        stop_server(p)
        p, port, cmd = start_server(s, "rsa", tmp, certs, site, build, ncpu)
        commands[f"{s} (RSA-2048)"] = cmd
        if p:
            print(f"bench: {s}: full handshakes, RSA-2048", flush=True)
            res["rsa"] = load_handshakes(p, port, build, N, ncpu)
            stop_server(p)
        if s == "moat":  # nginx and h2o on OpenSSL 3.0 have no X25519MLKEM768
            group = "X25519MLKEM768"
            p, port, cmd = start_server(s, "p256", tmp, certs, site, build, ncpu, group)
            commands[f"{s} (P-256, {group})"] = cmd
            if p:
                print(f"bench: {s}: full handshakes, {group}", flush=True)
                res["full_pq"] = load_handshakes(p, port, build, N, ncpu, group=group)
                stop_server(p)
        note_failures(s, res)

    if "moat" in servers:
        scale.moat_only(sys.modules[__name__], SCALE, results, commands, servers)

    cg = {}
    if not a.no_callgrind and status["valgrind"] == "ok":
        print("bench: in-memory engine under callgrind", flush=True)
        cg = callgrind(build, certs, tmp, quick)
    elif not a.no_callgrind:
        note("valgrind missing: no in-memory callgrind figures")

    if floor:
        keepalive_floor(floor, results)
    fl = floors(results, floor)
    verd = verdicts(results, fl)
    rverd = rate_verdicts(results)
    cols = [s for s in servers]
    t = table(results, cols, fl, verd)
    rt = rate_table(results, cols, rverd)
    mach = machine()
    print()
    print(f"moat bench, {started:%Y-%m-%d %H:%M} UTC, {mach['cpu']}, {mach['cores']} cores, "
          f"kernel {mach['kernel']}{' (QUICK: small counts)' if quick else ''}")
    print("server CPU (utime+stime of all its processes) per unit of work; floor = bare + crypto")
    print(t)
    print("bare: bench/bare over plain TCP with the same clients (hsload -P, wrk http, curl http); "
          "resumed, RSA, TLS 1.2 and X25519MLKEM768 use bare's connection figure; "
          "the h2 rows h2load --h1 over plain TCP, pipelined 10 deep for GETs")
    for line in scale.summary(results):
        print(line)
    if floor:
        print(f"crypto (openssl speed, CPU 0): x25519 {floor['x25519_us']} us, ecdsa P-256 sign "
              f"{floor['ecdsap256_sign_us']} us, rsa2048 sign {floor['rsa2048_sign_us']} us, "
              f"aes-128-gcm 16 KB {floor['aes128gcm_16k_bytes_per_s'] / 1e9:.2f} GB/s, "
              f"256 B {floor['aes128gcm_256_bytes_per_s'] / 1e9:.2f} GB/s; "
              "full = 2 x25519 + 1 sign, resumed = 2 x25519"
              + ("; X25519MLKEM768 full = full + 1 ML-KEM encaps" if "full_pq_handshake_us" in floor else "")
              + f"; keep-alive = open {floor['keepalive_bytes']['request']} B + seal "
              f"{floor['keepalive_bytes']['response']} B; bulk = bytes at the 16 KB rate")
    print()
    print(rt)
    if kex:
        print(f"key exchange (moat, one step at a time, CPU 0; ML-KEM-768 {kex['mlkem_impl']}): "
              f"ML-KEM-768 keygen {kex['mlkem768_keygen_us']} us, encaps {kex['mlkem768_encaps_us']} us, "
              f"decaps {kex['mlkem768_decaps_us']} us; X25519 keygen {kex['x25519_keygen_us']} us; "
              f"x25519 client {kex['x25519_client_us']} us, server {kex['x25519_server_us']} us; "
              f"X25519MLKEM768 client {kex['x25519mlkem768_client_us']} us, "
              f"server {kex['x25519mlkem768_server_us']} us")
    if cg:
        print()
        print(cg_table(cg))
    if NOTES:
        print()
        for n_ in NOTES:
            print("note: " + n_)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    doc = {
        "date": started.isoformat(timespec="seconds"), "quick": quick, "machine": mach,
        "versions": {"nginx": version(["nginx", "-v"]) if status["nginx"] == "ok" else None,
                     "h2o": version(["h2o", "--version"]) if status["h2o"] == "ok" else None,
                     "openssl": version(["openssl", "version"]),
                     "wrk": version(["wrk", "-v"]) if status["wrk"] == "ok" else None,
                     "moat": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], 10).stdout.strip()},
        "peers": status, "servers": commands, "client_openssl_conf": open(ossl_conf).read(),
        "units": {"full/resume/rsa": "server CPU us per handshake (each with one GET)",
                  "keepalive": "server CPU us per request (keepalive1: 1 connection)",
                  "bulk": "server CPU s per 1e9 bytes",
                  "floors": "per row: bare's CPU for the same clients over plain TCP + the crypto floor",
                  "idle": "server RSS growth bytes per held connection"},
        "results": results, "floor": floor, "floors": fl, "targets": verd, "rate_targets": rverd,
        "scale": SCALE, "kex": kex, "callgrind": cg, "table": t, "rate_table": rt, "notes": NOTES,
    }
    path = a.out
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\nbench: wrote {os.path.relpath(path, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
