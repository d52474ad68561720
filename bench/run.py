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
            f.write(f"""daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {logdir}/nginx.pid;
error_log {logdir}/error.log error;
events {{ worker_connections 30000; use epoll; }}
http {{
    access_log off;
    client_body_temp_path {logdir}/body;
    proxy_temp_path {logdir}/proxy;
    fastcgi_temp_path {logdir}/fastcgi;
    uwsgi_temp_path {logdir}/uwsgi;
    scgi_temp_path {logdir}/scgi;
    sendfile on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve X25519;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;
        ssl_conf_command Ciphersuites {SUITE};
        root {site};
    }}
}}
""")
        cmd = ["nginx", "-e", f"{logdir}/error.log", "-p", logdir, "-c", conf]
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


def load_handshakes(p, port, build, n, ncpu, resume=False, limit=180, group="x25519", tls12=False):
    cmd = pin(1, ncpu) + [os.path.join(build, "bench", "hsload"), "-p", str(port), "-n", str(n),
                          "-c", "4", "-t", str(limit), "-g", group] + (["-r"] if resume else []) \
        + (["-V", "1.2"] if tls12 else [])
    r, cpu = measured(p, lambda: run(cmd, limit + 30))
    m = re.search(r"ok=(\d+) fail=(\d+) resumed=(\d+) secs=([\d.]+)", r.stdout)
    if not m:
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": " ".join(cmd)}
    ok, fail, resumed, secs = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    return {"ok": ok, "failed": fail, "resumed": resumed, "client_secs": secs,
            "server_cpu_s": round(cpu, 3),
            "us_per_handshake": round(cpu / ok * 1e6, 1) if ok else None,
            "handshakes_per_s": round(ok / secs, 1) if secs else None,
            "command": " ".join(cmd)}


def load_keepalive(p, port, secs, ncpu, openssl_conf):
    cmd = pin(1, ncpu) + ["wrk", "-t", "1", "-c", "50", "-d", f"{secs}s",
                          f"https://127.0.0.1:{port}/small.txt"]
    env = dict(os.environ, OPENSSL_CONF=openssl_conf)
    r, cpu = measured(p, lambda: run(cmd, secs + 60, env=env))
    m = re.search(r"(\d+) requests in", r.stdout)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errs = re.search(r"Socket errors:.*", r.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    if not m or int(m[1]) == 0:
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": "OPENSSL_CONF=... " + " ".join(cmd)}
    n = int(m[1])
    return {"requests": n, "server_cpu_s": round(cpu, 3), "us_per_request": round(cpu / n * 1e6, 2),
            "requests_per_s": float(rps[1]) if rps else None,
            "socket_errors": errs[0] if errs else None, "non_2xx": int(non2xx[1]) if non2xx else 0,
            "command": f"OPENSSL_CONF={openssl_conf} " + " ".join(cmd)}


def load_bulk(p, port, big, times, ncpu):
    cmd = pin(1, ncpu) + ["curl", "-k", "-sS", "-o", "/dev/null", "--tlsv1.3", "--tls13-ciphers", SUITE,
                          "--curves", "X25519", "-w", "%{size_download} %{speed_download}\n",
                          f"https://127.0.0.1:{port}/big.bin"]

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


def load_h2(p, port, path, n, conns, streams, ncpu, size=None):
    """h2load over HTTP/2: n GETs of path on conns connections, streams
    each at once; server CPU per request (and per GB when size is given)."""
    cmd = pin(1, ncpu) + ["h2load", "-n", str(n), "-c", str(conns), "-m", str(streams),
                          f"https://127.0.0.1:{port}{path}"]
    r, cpu = measured(p, lambda: run(cmd, 600))
    m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", r.stdout)
    rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s", r.stdout)
    proto = re.search(r"Application protocol: (\S+)", r.stdout)
    if not m or int(m[2]) != n or not proto or proto[1] != "h2":
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": " ".join(cmd)}
    out = {"requests": n, "server_cpu_s": round(cpu, 3), "us_per_request": round(cpu / n * 1e6, 2),
           "requests_per_s": float(rps[1]) if rps else None, "command": " ".join(cmd)}
    if size:
        scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}
        out["cpu_s_per_gb"] = round(cpu / (n * size / 1e9), 4)
        out["mb_per_s"] = round(float(rps[2]) * scale.get(rps[3], 1) / 1e6, 1) if rps else None
    return out


def load_idle(p, port, build, n, ncpu):
    cmd = pin(1, ncpu) + [os.path.join(build, "bench", "hold"), "-p", str(port), "-n", str(n), "-t", "120"]
    time.sleep(0.5)
    before = rss_kb(p.pid)
    h = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=raise_nofile)
    STARTED.append(h)
    line, res = "", {}
    end = time.time() + 150
    while time.time() < end:
        line = h.stdout.readline()
        if line.startswith("held") or not line:
            break
    m = re.match(r"held (\d+) failed (\d+)", line)
    if m:
        time.sleep(2.0)  # every Finished read, and the last connections settled idle
        after = rss_kb(p.pid)
        time.sleep(1.0)
        held, failed = int(m[1]), int(m[2])
        res = {"held": held, "failed": failed, "rss_before_kb": before, "rss_after_kb": after,
               "bytes_per_conn": round((after - before) * 1024 / held) if held else None}
    try:
        h.stdin.write("\n")
        h.stdin.flush()
    except OSError:
        pass
    try:
        tail = h.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        os.killpg(h.pid, signal.SIGKILL)
        tail = h.communicate()[0]
    STARTED.remove(h)
    a = re.search(r"alive (\d+)", tail or "")
    res["alive_at_end"] = int(a[1]) if a else None
    res["command"] = " ".join(cmd) + "  (ulimit -n raised to the hard limit)"
    if not m:
        res["error"] = f"hold said: {line.strip()!r}"
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
    if not (x and e and rs and a):
        note("openssl speed output not understood; no floor")
        return None
    x25519_us = 1e6 / float(x[1])
    ecdsa_us = 1e6 / float(e[1])
    rsa_us = 1e6 / float(rs[1])
    aes_bps = float(a[1])
    # Server side of a full handshake: one x25519 key generation and one
    # x25519 derivation (speed's op is one scalar multiplication, which is
    # what each costs) and one signature. Hashes and HKDF are left out.
    return {
        "x25519_us": round(x25519_us, 2), "ecdsap256_sign_us": round(ecdsa_us, 2),
        "rsa2048_sign_us": round(rsa_us, 2), "aes128gcm_16k_bytes_per_s": round(aes_bps),
        "full_handshake_us": round(2 * x25519_us + ecdsa_us, 1),
        "resumed_handshake_us": round(2 * x25519_us, 1),
        "rsa_full_handshake_us": round(2 * x25519_us + rsa_us, 1),
        "bulk_cpu_s_per_gb": round(1e9 / aes_bps, 4),
        "commands": [f"openssl speed -mr -seconds {secs} {a_}" for a_ in
                     ("ecdhx25519", "ecdsap256", "rsa2048", "-evp aes-128-gcm -bytes 16384")],
    }


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


def table(results, servers, floor):
    rows = [  # label, load key, figure, throughput key, throughput unit, floor key, digits
        ("full handshake + GET, P-256, x25519 (us CPU/hs)", "full", "us_per_handshake", "handshakes_per_s", "hs/s",
         "full_handshake_us", 1),
        ("resumed handshake + GET (us CPU/hs)", "resume", "us_per_handshake", "handshakes_per_s", "hs/s",
         "resumed_handshake_us", 1),
        ("keep-alive GET, wrk -c50 (us CPU/req)", "keepalive", "us_per_request", "requests_per_s", "req/s",
         None, 2),
        ("bulk 1 GiB x3 (CPU s/GB)", "bulk", "cpu_s_per_gb", "mb_per_s", "MB/s", "bulk_cpu_s_per_gb", 3),
        ("h2 GET, h2load -n100000 -c50 -m10 (us CPU/req)", "h2small", "us_per_request", "requests_per_s",
         "req/s", None, 2),
        ("h2 bulk 1 GiB x3, one stream each (CPU s/GB)", "h2bulk", "cpu_s_per_gb", "mb_per_s", "MB/s",
         "bulk_cpu_s_per_gb", 3),
        ("idle conn, 5000 held (RSS bytes/conn)", "idle", "bytes_per_conn", None, None, None, 0),
        ("10,000 held at once (alive/10000)", "idle10k", "alive_at_end", None, None, None, 0),
        ("full handshake + GET, RSA-2048 (us CPU/hs)", "rsa", "us_per_handshake", "handshakes_per_s", "hs/s",
         "rsa_full_handshake_us", 1),
        ("full handshake + GET, P-256, X25519MLKEM768 (us CPU/hs)", "full_pq", "us_per_handshake",
         "handshakes_per_s", "hs/s", "full_pq_handshake_us", 1),
        ("full handshake + GET, P-256, x25519, TLS 1.2 (us CPU/hs)", "full12", "us_per_handshake",
         "handshakes_per_s", "hs/s", None, 1),
    ] + scale.rows(SCALE)
    head = ["work"] + servers + [f"{s}/moat" for s in servers if s != "moat"] + ["floor", "moat/floor"]
    lines = []
    for label, key, fig, thr, unit, fkey, dg in rows:
        cells = [label]
        vals = {}
        for s in servers:
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
            if thr and r.get(thr):
                c += f" ({fmt(r[thr], 0)} {unit})"
            if key == "idle10k" and r.get("failed"):
                c += f" ({r['failed']} failed)"
            cells.append(c)
        m = vals.get("moat")
        for s in servers:
            if s == "moat":
                continue
            v = vals.get(s)
            cells.append(f"{v / m:.2f}" if m and v is not None and key != "idle10k" else "-")
        fv = floor.get(fkey) if floor and fkey else None
        cells.append(fmt(fv, dg) if fv is not None else "-")
        cells.append(f"{m / fv:.2f}" if fv and m else "-")
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for r in lines:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--only", default="moat,nginx,h2o")
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
        if s != "moat" and status.get(s) != "ok":
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
        if s != "moat" and status.get(s) != "ok":
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
            print(f"bench: {s}: keep-alive (wrk)", flush=True)
            res["keepalive"] = load_keepalive(p, port, WRK_SECS, ncpu, ossl_conf)
        print(f"bench: {s}: bulk", flush=True)
        res["bulk"] = load_bulk(p, port, BIG, TIMES, ncpu)
        if status["h2load"] == "ok":
            print(f"bench: {s}: HTTP/2 GETs (h2load)", flush=True)
            res["h2small"] = load_h2(p, port, "/small.txt", H2N, 50, 10, ncpu)
            print(f"bench: {s}: HTTP/2 bulk (h2load)", flush=True)
            res["h2bulk"] = load_h2(p, port, "/big.bin", TIMES, 1, 1, ncpu, size=BIG)
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
        for k, v in res.items():
            if isinstance(v, dict) and v.get("error"):
                note(f"{s} {k}: {v['error']}")
            if isinstance(v, dict) and v.get("failed"):
                note(f"{s} {k}: {v['failed']} connections failed")

    if "moat" in servers:
        scale.moat_only(sys.modules[__name__], SCALE, results, commands, servers)

    cg = {}
    if not a.no_callgrind and status["valgrind"] == "ok":
        print("bench: in-memory engine under callgrind", flush=True)
        cg = callgrind(build, certs, tmp, quick)
    elif not a.no_callgrind:
        note("valgrind missing: no in-memory callgrind figures")

    cols = [s for s in servers]
    t = table(results, cols, floor)
    mach = machine()
    print()
    print(f"moat bench, {started:%Y-%m-%d %H:%M} UTC, {mach['cpu']}, {mach['cores']} cores, "
          f"kernel {mach['kernel']}{' (QUICK: small counts)' if quick else ''}")
    print("server CPU (utime+stime of all its processes) per unit of work; client throughput in ()")
    print(t)
    for line in scale.summary(results):
        print(line)
    if floor:
        print(f"floor (openssl speed, CPU 0): x25519 {floor['x25519_us']} us, ecdsa P-256 sign "
              f"{floor['ecdsap256_sign_us']} us, rsa2048 sign {floor['rsa2048_sign_us']} us, "
              f"aes-128-gcm 16 KB {floor['aes128gcm_16k_bytes_per_s'] / 1e9:.2f} GB/s; "
              "full = 2 x25519 + 1 sign, resumed = 2 x25519"
              + ("; X25519MLKEM768 full = full + 1 ML-KEM encaps" if "full_pq_handshake_us" in floor else ""))
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
                  "keepalive": "server CPU us per request", "bulk": "server CPU s per 1e9 bytes",
                  "idle": "server RSS growth bytes per held connection"},
        "scale": SCALE, "results": results, "floor": floor, "kex": kex, "callgrind": cg, "table": t,
        "notes": NOTES,
    }
    path = a.out
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\nbench: wrote {os.path.relpath(path, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
