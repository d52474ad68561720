"""make bench, the scale rows (docs/bench.md, "Scale"): moat with 1 and
10,000 certificates chosen by SNI, 5,000 and 50,000 idle connections on one
worker, keep-alive beside 10,000 idle connections, 2 workers against 1,
and, for every server, the TLS 1.2 resumed handshake, idle HTTP/2
connections and a reverse proxy. run.py passes itself as R for its
helpers (servers, CPU and memory from /proc, the started-process list)."""
import datetime
import os
import re
import resource
import shutil
import signal
import subprocess
import time

# ---------------------------------------------------------------- helpers


def nofile(n):
    """A preexec_fn: the file limit up to n (root may go past the hard
    limit, up to fs.nr_open), else as far as the hard limit allows."""
    def go():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        except (ValueError, OSError):
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            except (ValueError, OSError):
                pass
    return go


def files_cap(want):
    """The file limit a child can get: want when the hard limit allows it
    or can be raised (root with CAP_SYS_RESOURCE), else the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= want:
        return want
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, want))
        return want
    except (ValueError, OSError):
        return hard


def pss_kb(R, sid):
    """Proportional set size of the session's processes: pages shared
    between the master and its worker are counted once in all."""
    total = 0
    for pid in R.session_pids(sid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def start_moat(R, ctx, tag, args, cwd=None, pinned=True, files=65536):
    """moat serve on the site with extra args; returns (Popen, port, command)."""
    port = R.free_port()
    cmd = [os.path.join(ctx["build"], "moat"), "serve", ctx["site"], "--listen", f"127.0.0.1:{port}",
           "--ciphers", R.SUITE, "--groups", "x25519"] + args
    full = (R.pin(0, ctx["ncpu"]) if pinned else []) + cmd
    logdir = os.path.join(ctx["tmp"], f"scale-{tag}")
    os.makedirs(logdir, exist_ok=True)
    out = open(os.path.join(logdir, "stdout"), "w")
    err = open(os.path.join(logdir, "stderr"), "w")
    p = subprocess.Popen(full, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                         start_new_session=True, preexec_fn=nofile(files))
    R.STARTED.append(p)
    text = " ".join(full)
    if cwd:
        text = f"(cd {cwd}; {text})"
    if not R.wait_listen(port, p, 180):
        with open(os.path.join(logdir, "stderr")) as f:
            msg = f.read()[-400:]
        R.stop_server(p)
        R.note(f"moat ({tag}) did not start: {msg.strip()}")
        return None, None, text
    return p, port, text


def handshakes(R, ctx, p, port, n, extra=(), pinned=True, procs=4):
    """hsload against p: server CPU (p's session) and client CPU (hsload
    and its processes, from RUSAGE_CHILDREN) per handshake."""
    limit = 180
    cmd = (R.pin(1, ctx["ncpu"]) if pinned else []) + [
        os.path.join(ctx["build"], "bench", "hsload"), "-p", str(port), "-n", str(n), "-c", str(procs),
        "-t", str(limit)] + list(extra)
    c0 = child_cpu()
    r, cpu = R.measured(p, lambda: R.run(cmd, limit + 30))
    ccpu = child_cpu() - c0
    m = re.search(r"ok=(\d+) fail=(\d+) resumed=(\d+) secs=([\d.]+)", r.stdout)
    if not m:
        return {"error": (r.stdout + r.stderr).strip()[-300:], "command": " ".join(cmd)}
    ok, fail, resumed, secs = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    return {"ok": ok, "failed": fail, "resumed": resumed, "client_secs": secs,
            "server_cpu_s": round(cpu, 3), "client_cpu_s": round(ccpu, 3),
            "us_per_handshake": round(cpu / ok * 1e6, 1) if ok else None,
            "client_us_per_handshake": round(ccpu / ok * 1e6, 1) if ok else None,
            "handshakes_per_s": round(ok / secs, 1) if secs else None,
            "command": " ".join(cmd)}


def hold_open(R, ctx, port, n, flags=()):
    """Starts bench/hold; returns (Popen, its "held" line) once all are open."""
    return R.hold_open(port, ctx["build"], n, ctx["ncpu"], flags, limit=600,
                       preexec=nofile(files_cap(n + 1024)), wait=60 + n / 100)


def hold_close(R, h):
    """Releases the held connections; returns how many were still alive."""
    return R.hold_close(h)


def idle(R, ctx, p, port, n, flags=()):
    """Server memory (RSS and PSS of its session) per held connection."""
    R.warm(port, ctx["build"], ctx["ncpu"])
    time.sleep(0.5)
    rss0, pss0 = R.rss_kb(p.pid), pss_kb(R, p.pid)
    h, line, cmd = hold_open(R, ctx, port, n, flags)
    m = re.match(r"held (\d+) failed (\d+)", line)
    res = {}
    if m:
        time.sleep(2.0)
        rss1, pss1 = R.rss_kb(p.pid), pss_kb(R, p.pid)
        held = int(m[1])
        res = {"held": held, "failed": int(m[2]), "rss_before_kb": rss0, "rss_after_kb": rss1,
               "pss_before_kb": pss0, "pss_after_kb": pss1,
               "bytes_per_conn": round((rss1 - rss0) * 1024 / held) if held else None,
               "pss_bytes_per_conn": round((pss1 - pss0) * 1024 / held) if held else None}
    res["alive_at_end"] = hold_close(R, h)
    res["command"] = cmd + f"  (file limit {n + 1024})"
    if not m:
        res["error"] = f"hold said: {line.strip()!r}"
    return res


# ---------------------------------------------------------------- certificates
def make_certs(R, tmp, n):
    """n self-signed P-256 leaves h00000.bench.test ... sharing one key, in
    tmp/many (kept for the run). Returns (dir, seconds, how)."""
    d = os.path.join(tmp, "many")
    os.makedirs(d, exist_ok=True)
    last = os.path.join(d, f"h{n - 1:05d}.pem")
    if os.path.exists(last):
        return d, 0.0, "cached"
    t0 = time.time()
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        x509 = None
    if x509 is not None:
        key = ec.generate_private_key(ec.SECP256R1())
        with open(os.path.join(d, "k.pem"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        for i in range(n):
            name = f"h{i:05d}.bench.test"
            subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
            cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
                    .public_key(key.public_key()).serial_number(i + 1)
                    .not_valid_before(now - datetime.timedelta(hours=1))
                    .not_valid_after(now + datetime.timedelta(days=30))
                    .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                    .sign(key, hashes.SHA256()))
            with open(os.path.join(d, f"h{i:05d}.pem"), "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
        how = "python3-cryptography"
    else:  # the openssl command, two at a time
        R.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-out", os.path.join(d, "k.pem")], 60)
        script = ('for i in "$@"; do n=h$i.bench.test; openssl req -new -x509 -key k.pem -subj /CN=$n '
                  '-addext subjectAltName=DNS:$n -days 30 -out h$i.pem 2>/dev/null; done')
        ids = [f"{i:05d}" for i in range(n)]
        procs = [subprocess.Popen(["bash", "-c", script, "x"] + ids[k::2], cwd=d) for k in range(2)]
        for q in procs:
            q.wait()
        how = "openssl req, 2 at a time"
    os.chmod(os.path.join(d, "k.pem"), 0o644)
    return d, round(time.time() - t0, 1), how


def certs_rows(R, ctx, res, cmds):
    """The full-handshake row with 1 and with NC certificates, SNI naming
    the last one loaded; memory per certificate from PSS (and RSS)."""
    nc = ctx["ncerts"]
    d, secs, how = make_certs(R, ctx["tmp"], nc)
    res["certs_gen"] = {"count": nc, "secs": secs, "how": how}
    for key, count in (("certs1", 1), ("certsN", nc)):
        args = ["--workers", "1", "--max-conns", "30000"]
        for i in range(count):
            args += ["--cert", f"h{i:05d}.pem", "--key", "k.pem"]
        t0 = time.time()
        p, port, cmd = start_moat(R, ctx, key, args, cwd=d)
        up = time.time() - t0
        if count > 1:  # not 20,000 arguments in the JSON
            cmd = cmd[:cmd.index("--cert")] + (f"--cert h00000.pem --key k.pem ... --cert h{count - 1:05d}.pem "
                                               f"--key k.pem ({count} pairs))")
        cmds[f"moat ({count} certificates)"] = cmd
        if not p:
            res[key] = {"error": "did not start", "command": cmd}
            continue
        time.sleep(1.0)
        rss, pss = R.rss_kb(p.pid), pss_kb(R, p.pid)
        sni = f"h{count - 1:05d}.bench.test"
        r = handshakes(R, ctx, p, port, ctx["N"], ["-s", sni])
        r.update({"certificates": count, "sni": sni, "rss_kb": rss, "pss_kb": pss, "start_secs": round(up, 2)})
        res[key] = r
        R.stop_server(p)
    a, b = res.get("certs1", {}), res.get("certsN", {})
    if a.get("pss_kb") and b.get("pss_kb") and nc > 1:
        res["certs_memory"] = {
            "pss_bytes_per_cert": round((b["pss_kb"] - a["pss_kb"]) * 1024 / (nc - 1)),
            "rss_bytes_per_cert": round((b["rss_kb"] - a["rss_kb"]) * 1024 / (nc - 1))}


# ---------------------------------------------------------------- connections
def conns_rows(R, ctx, res, cmds):
    """Idle connections on one worker at two counts, each on a fresh
    server, spread over source addresses; then keep-alive beside idle ones."""
    base = ["--workers", "1", "--handshake-timeout", "600", "--header-timeout", "600",
            "--idle-timeout", "600"]
    for key, n in (("idle_a", ctx["idle_a"]), ("idle_b", ctx["idle_b"])):
        files = files_cap(n + 4096)
        if files < n + 1100:
            want, n = n, (files - 1100) // 1000 * 1000
            ctx[key] = n
            R.note(f"the file limit is {files} and cannot be raised here (no CAP_SYS_RESOURCE): "
                   f"{n:,} idle connections held instead of {want:,}")
        p, port, cmd = start_moat(R, ctx, key, base + ["--max-conns", str(n + 1000)], files=files)
        cmds[f"moat ({n} idle)"] = cmd + f"  (file limit {files})"
        if not p:
            res[key] = {"error": "did not start", "command": cmd}
            continue
        print(f"bench: moat: {n} idle connections, one worker", flush=True)
        r = idle(R, ctx, p, port, n, ["-s"])
        r["count"] = n
        r["file_limit"] = files
        res[key] = r
        R.stop_server(p)
    n = ctx["idle_ka"]
    p, port, cmd = start_moat(R, ctx, "ka-idle", base + ["--max-conns", str(n + 1000)],
                              files=files_cap(n + 4096))
    cmds[f"moat (keep-alive beside {n} idle)"] = cmd
    if not p or not shutil.which("wrk"):
        return
    print(f"bench: moat: keep-alive (wrk), alone and beside {n} idle connections", flush=True)
    res["ka_alone"] = R.load_keepalive(p, port, ctx["wrk_secs"], ctx["ncpu"], ctx["ossl_conf"])
    h, line, hcmd = hold_open(R, ctx, port, n, ["-s"])
    if line.startswith("held"):
        time.sleep(1.0)
        r = R.load_keepalive(p, port, ctx["wrk_secs"], ctx["ncpu"], ctx["ossl_conf"])
        r["idle_beside"] = line.strip()
        r["hold_command"] = hcmd
        res["ka_idle"] = r
    else:
        res["ka_idle"] = {"error": f"hold said: {line.strip()!r}", "command": hcmd}
    alive = hold_close(R, h)
    if "ka_idle" in res:
        res["ka_idle"]["idle_alive_at_end"] = alive
    R.stop_server(p)


# ---------------------------------------------------------------- workers
def workers_rows(R, ctx, res, cmds):
    """--workers 1 and 2, unpinned: every process may use both cores; the
    load generator's CPU is measured beside the server's."""
    for w in (1, 2):
        key = f"workers{w}"
        p, port, cmd = start_moat(R, ctx, key, ["--workers", str(w), "--max-conns", "30000"], pinned=False)
        cmds[f"moat (--workers {w}, unpinned)"] = cmd
        if not p:
            res[key] = {"error": "did not start", "command": cmd}
            continue
        print(f"bench: moat: full handshakes, --workers {w}, unpinned", flush=True)
        r = handshakes(R, ctx, p, port, ctx["N_workers"], pinned=False)
        if r.get("ok") and r.get("client_secs"):
            wall = r["client_secs"]
            # What the handshakes cost the machine beside the client: the
            # rate the server's own CPU would allow on the cores the client
            # left free (2 cores x wall - client CPU).
            free = ctx["ncpu"] * wall - r["client_cpu_s"]
            r["server_cores_busy"] = round(r["server_cpu_s"] / wall, 2)
            r["free_core_s"] = round(free, 3)
            r["hs_per_free_core_s"] = round(r["ok"] / free, 1) if free > 0 else None
        res[key] = r
        R.stop_server(p)


# ---------------------------------------------------------------- proxy


def start_nginx(R, ctx, tag, body, core):
    d = os.path.join(ctx["tmp"], f"scale-{tag}")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    port = R.free_port()
    with open(conf, "w") as f:
        f.write(R.NGINX_CONF.format(d=d, body=body.replace("@PORT@", str(port))))
    full = R.pin(core, ctx["ncpu"]) + ["nginx", "-e", f"{d}/error.log", "-p", d, "-c", conf]
    p = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "stderr"), "w"),
                         stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=R.raise_nofile)
    R.STARTED.append(p)
    if not R.wait_listen(port, p):
        R.stop_server(p)
        R.note(f"nginx ({tag}) did not start")
        return None, None, " ".join(full)
    return p, port, " ".join(full) + f"  ({conf})"


def proxy_rows(R, ctx, results, cmds, servers):
    """wrk through moat --proxy and nginx proxy_pass (upstream keepalive)
    to one plain-HTTP nginx backend; the proxy's CPU alone per request."""
    if not shutil.which("nginx") or not shutil.which("wrk"):
        R.note("proxy rows need nginx (as the backend) and wrk: not measured")
        return
    backend_body = f"""    server {{
        listen 127.0.0.1:@PORT@;
        root {ctx['site']};
    }}"""
    b, bport, bcmd = start_nginx(R, ctx, "backend", backend_body, 1)
    cmds["backend (plain HTTP nginx, on the load's CPU)"] = bcmd
    if not b:
        return
    for s in servers:
        if s == "moat":
            p, port, cmd = start_moat(R, ctx, "proxy", ["--workers", "1", "--max-conns", "30000",
                                                        "--proxy-only", "--proxy", f"http://127.0.0.1:{bport}"])
        elif s == "nginx":
            certs = ctx["certs"]
            body = f"""    upstream backend {{
        server 127.0.0.1:{bport};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:@PORT@ ssl;
        ssl_certificate {certs}/p256.pem;
        ssl_certificate_key {certs}/p256.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve X25519;
        ssl_conf_command Ciphersuites {R.SUITE};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""
            p, port, cmd = start_nginx(R, ctx, "nginx-proxy", body, 0)
        else:
            continue
        cmds[f"{s} (reverse proxy)"] = cmd
        if not p:
            continue
        print(f"bench: {s}: keep-alive (wrk) through the reverse proxy", flush=True)
        results.setdefault(s, {})["proxy"] = R.load_keepalive(p, port, ctx["wrk_secs"], ctx["ncpu"],
                                                               ctx["ossl_conf"])
        R.stop_server(p)
    R.stop_server(b)


# ---------------------------------------------------------------- hooks
def per_server(R, ctx, name, p, port, res):
    """Rows for every server, on the server run.py started (P-256)."""
    print(f"bench: {name}: resumed handshakes, TLS 1.2", flush=True)
    res["resume12"] = R.load_handshakes(p, port, ctx["build"], ctx["N"], ctx["ncpu"], resume=True, tls12=True)
    print(f"bench: {name}: {ctx['idle_h2']} idle HTTP/2 connections", flush=True)
    res["idle_h2"] = idle(R, ctx, p, port, ctx["idle_h2"], ["-2"])


def moat_only(R, ctx, results, cmds, servers):
    """The scale rows, after the per-server loads."""
    res = results.setdefault("moat", {})
    print(f"bench: moat: 1 and {ctx['ncerts']} certificates", flush=True)
    certs_rows(R, ctx, res, cmds)
    conns_rows(R, ctx, res, cmds)
    workers_rows(R, ctx, res, cmds)
    proxy_rows(R, ctx, results, cmds, servers)


def context(quick, build, tmp, site, certs, ncpu, ossl_conf, N, wrk_secs, idle_count):
    return {"build": build, "tmp": tmp, "site": site, "certs": certs, "ncpu": ncpu, "ossl_conf": ossl_conf,
            "N": N, "N_workers": 600 if quick else 10000, "wrk_secs": wrk_secs,
            "ncerts": 100 if quick else 10000,
            "idle_a": 500 if quick else 5000, "idle_b": 2000 if quick else 50000,
            "idle_ka": 500 if quick else 10000, "idle_h2": idle_count}


def rows(ctx):
    """Table rows, in run.py's form (ROWS): key, label, figure, digits, bare
    row, crypto floor key, target."""
    nc = f"{ctx['ncerts']:,}" if ctx else "N"
    a = f"{ctx['idle_a']:,}" if ctx else "A"
    b = f"{ctx['idle_b']:,}" if ctx else "B"
    k = f"{ctx['idle_ka']:,}" if ctx else "K"
    h = f"{ctx['idle_h2']:,}" if ctx else "H"
    return [
        ("resume12", "resumed handshake + GET, TLS 1.2 (us CPU/hs)", "us_per_handshake", 1, "full",
         "resumed_handshake_us", None),
        ("idle_h2", f"idle h2 conn, {h} held (RSS bytes/conn)", "bytes_per_conn", 0, None, None, None),
        ("proxy", "reverse proxy, wrk -c50 via backend (us CPU/req)", "us_per_request", 2, None, None, None),
        ("certs1", "full handshake, 1 cert, SNI (us CPU/hs)", "us_per_handshake", 1, None, None, None),
        ("certsN", f"full handshake, {nc} certs, SNI last (us CPU/hs)", "us_per_handshake", 1, None, None,
         ("row", "certs1", 1.1)),
        ("idle_a", f"idle conn, {a} held, 1 worker (RSS bytes/conn)", "bytes_per_conn", 0, None, None,
         ("abs", 2048)),
        ("idle_b", f"idle conn, {b} held, 1 worker (RSS bytes/conn)", "bytes_per_conn", 0, None, None,
         ("abs", 2048)),
        ("ka_alone", "keep-alive GET, wrk -c50, alone (us CPU/req)", "us_per_request", 2, None, None, None),
        ("ka_idle", f"keep-alive GET, wrk -c50, {k} idle beside (us CPU/req)", "us_per_request", 2, None,
         None, ("row", "ka_alone", 1.1)),
        ("workers1", "full handshake, --workers 1, unpinned (us CPU/hs)", "us_per_handshake", 1, None, None,
         None),
        ("workers2", "full handshake, --workers 2, unpinned (us CPU/hs)", "us_per_handshake", 1, None, None,
         None),
    ]


def summary(results):
    """Lines under the table: the derived figures of the scale rows."""
    m = results.get("moat", {})
    out = []
    cm = m.get("certs_memory")
    if cm:
        out.append(f"certificates: {m['certsN']['certificates']:,} loaded cost {cm['pss_bytes_per_cert']:,} bytes "
                   f"each (PSS of master + worker; RSS {cm['rss_bytes_per_cert']:,}); start "
                   f"{m['certsN'].get('start_secs')} s against {m['certs1'].get('start_secs')} s; "
                   f"handshake {m['certsN'].get('us_per_handshake')} us against "
                   f"{m['certs1'].get('us_per_handshake')} us with one")
    a, b = m.get("idle_a") or {}, m.get("idle_b") or {}
    if a.get("bytes_per_conn") is not None and b.get("bytes_per_conn") is not None:
        out.append(f"idle connections on one worker: {a['held']:,} cost {a['bytes_per_conn']:,} B each "
                   f"(PSS {a.get('pss_bytes_per_conn')}), {b['held']:,} cost {b['bytes_per_conn']:,} B "
                   f"(PSS {b.get('pss_bytes_per_conn')}); alive at the end {a.get('alive_at_end')}, "
                   f"{b.get('alive_at_end')}")
    ka, ki = m.get("ka_alone") or {}, m.get("ka_idle") or {}
    if ka.get("us_per_request") and ki.get("us_per_request"):
        out.append(f"keep-alive beside idle connections: {ki['us_per_request']} us/req against "
                   f"{ka['us_per_request']} alone ({ki['us_per_request'] / ka['us_per_request']:.2f}x)")
    w1, w2 = m.get("workers1") or {}, m.get("workers2") or {}
    if w1.get("handshakes_per_s") and w2.get("handshakes_per_s"):
        out.append(
            "workers (unpinned, 2 cores): " + "; ".join(
                f"{w} {r['handshakes_per_s']:,.0f} hs/s, server {r['us_per_handshake']} us/hs "
                f"({r.get('server_cores_busy')} cores busy), hsload {r['client_us_per_handshake']} us/hs, "
                f"{r.get('hs_per_free_core_s')} hs per core-second left by the client"
                for w, r in (("1 worker:", w1), ("2 workers:", w2)))
            + f"; 2/1 = {w2['handshakes_per_s'] / w1['handshakes_per_s']:.2f}x hs/s")
    return out
