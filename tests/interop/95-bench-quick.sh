#!/usr/bin/env bash
# make bench in quick mode (small counts), so the benchmark cannot rot: every
# server starts, every load runs and yields a figure, the crypto floor and the
# callgrind counts come out, and the table and the JSON are written. It
# asserts no timing: only that each measurement was made.
. "$(dirname "$0")/../lib.sh"
need python3 nginx h2o wrk curl valgrind taskset || { finish; exit; }
need_moat

out=$T_TMP/bench.out
json=$T_TMP/bench.json
# The bench builds its helpers next to the moat under test.
B=$(cd "$(dirname "$MOAT")" && pwd)
B=${B#"$MOAT_ROOT"/}
if timeout 600 make -s -C "$MOAT_ROOT" bench B="$B" BENCH_ARGS="--quick --out $json" >"$out" 2>&1; then
	ok "bench quick: make bench exits 0"
else
	notok "bench quick: make bench exits 0"
	diag "$out"
fi
check "bench quick: prints the table" grep -q '^work .*moat.*nginx.*h2o.*nginx/moat.*h2o/moat.*bare.*crypto.*floor.*moat/floor.*target.*met' "$out"
check "bench quick: prints the throughput and latency table" grep -q '^throughput and latency .*moat.*nginx.*h2o.*bare.*best peer.*target.*met' "$out"
check "bench quick: prints the latency rows" grep -q '^keep-alive latency p99, 1 conn' "$out"
check "bench quick: prints the callgrind table" grep -q 'in-memory engine, callgrind instructions' "$out"
check "bench quick: prints the X25519MLKEM768 row" grep -q '^full handshake + GET, P-256, X25519MLKEM768' "$out"
check "bench quick: prints the TLS 1.2 row" grep -q '^full handshake + GET, P-256, x25519, TLS 1.2' "$out"
check "bench quick: prints the ML-KEM-768 step costs" grep -q '^key exchange (moat.*ML-KEM-768 keygen' "$out"
# The quick table, kept beside the other test output.
[ -d "$MOAT_ROOT/tests/out" ] && cp "$out" "$MOAT_ROOT/tests/out/bench-quick.out"

# Each server x load has its figure, with no error and no failed connection.
if [ -s "$json" ]; then
	python3 - "$json" >"$T_TMP/json.check" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
fig = {"full": "us_per_handshake", "resume": "us_per_handshake", "keepalive": "us_per_request",
       "bulk": "cpu_s_per_gb", "idle": "bytes_per_conn", "idle10k": "alive_at_end",
       "rsa": "us_per_handshake", "h2small": "us_per_request", "h2bulk": "cpu_s_per_gb",
       "full12": "us_per_handshake", "keepalive1": "requests_per_s"}
for s in ("moat", "nginx", "h2o"):
    r = d["results"].get(s, {})
    for k, f in fig.items():
        v = r.get(k) or {}
        good = v.get(f) is not None and not v.get("error") and not v.get("failed")
        if k == "resume":
            good = good and v.get("resumed", 0) > 0
        if k in ("keepalive", "keepalive1"):
            good = good and not v.get("non_2xx") and v.get("p50_us") and v.get("p99_us")
        if k in ("full", "resume"):
            good = good and v.get("client_us_per_handshake") is not None
        if k == "idle10k":
            good = good and v.get("held") == v.get("alive_at_end") and v.get("held", 0) > 0
        print(("ok" if good else "not ok") + f" - bench quick: {s} {k} measured"
              + ("" if good else f" # {json.dumps(v)[:300]}"))
    neg = r.get("negotiated") or {}
    good = neg.get("protocol") == "TLSv1.3" and neg.get("suite") == "TLS_AES_128_GCM_SHA256"
    print(("ok" if good else "not ok") + f" - bench quick: {s} negotiates TLSv1.3 TLS_AES_128_GCM_SHA256"
          + ("" if good else f" # {neg}"))
# The bare floor server: every load it runs yields a figure, and every
# floor row adds up.
bare = d["results"].get("bare", {})
for k, f in (("full", "us_per_handshake"), ("keepalive", "us_per_request"), ("keepalive1", "p99_us"),
             ("bulk", "cpu_s_per_gb"), ("h2small", "us_per_request"), ("h2bulk", "cpu_s_per_gb")):
    v = bare.get(k) or {}
    good = v.get(f) is not None and not v.get("error") and not v.get("failed") and not v.get("non_2xx")
    print(("ok" if good else "not ok") + f" - bench quick: bare {k} measured"
          + ("" if good else f" # {json.dumps(v)[:300]}"))
# The scale rows (bench/scale.py): every server's, then moat's own.
scale = {"resume12": "us_per_handshake", "idle_h2": "bytes_per_conn"}
for s in ("moat", "nginx", "h2o"):
    r = d["results"].get(s, {})
    for k, f in scale.items():
        v = r.get(k) or {}
        good = v.get(f) is not None and not v.get("error") and not v.get("failed")
        if k == "resume12":
            good = good and v.get("resumed", 0) > 0
        print(("ok" if good else "not ok") + f" - bench quick: {s} {k} measured"
              + ("" if good else f" # {json.dumps(v)[:300]}"))
m = d["results"].get("moat", {})
own = {"certs1": "us_per_handshake", "certsN": "us_per_handshake", "certs_memory": "pss_bytes_per_cert",
       "idle_a": "bytes_per_conn", "idle_b": "bytes_per_conn", "ka_alone": "us_per_request",
       "ka_idle": "us_per_request", "workers1": "us_per_handshake", "workers2": "us_per_handshake"}
for k, f in own.items():
    v = m.get(k) or {}
    good = v.get(f) is not None and not v.get("error") and not v.get("failed")
    if k in ("idle_a", "idle_b"):
        good = good and v.get("held") == v.get("alive_at_end") and v.get("held", 0) > 0
    if k.startswith("workers"):
        good = good and v.get("client_us_per_handshake") is not None
    print(("ok" if good else "not ok") + f" - bench quick: moat {k} measured"
          + ("" if good else f" # {json.dumps(v)[:300]}"))
for s in ("moat", "nginx"):
    v = d["results"].get(s, {}).get("proxy") or {}
    good = v.get("us_per_request") is not None and not v.get("error") and not v.get("non_2xx")
    print(("ok" if good else "not ok") + f" - bench quick: {s} reverse proxy measured"
          + ("" if good else f" # {json.dumps(v)[:300]}"))
fl = d.get("floor") or {}
print(("ok" if fl.get("full_handshake_us") and fl.get("keepalive_request_us") else "not ok")
      + " - bench quick: crypto floor measured")
fls = d.get("floors") or {}
for k in ("full", "resume", "keepalive", "bulk", "h2small", "h2bulk", "rsa", "full_pq", "full12"):
    good = (fls.get(k) or {}).get("floor") is not None
    print(("ok" if good else "not ok") + f" - bench quick: {k} has a floor (bare + crypto)"
          + ("" if good else f" # {fls.get(k)}"))
tg = d.get("targets") or {}
for k in ("full", "resume", "keepalive", "bulk", "idle", "rsa", "full_pq"):
    good = (tg.get(k) or {}).get("met") is not None
    print(("ok" if good else "not ok") + f" - bench quick: {k} target judged" + ("" if good else f" # {tg.get(k)}"))
for label, v in (d.get("rate_targets") or {}).items():
    if v.get("target") != "-":
        good = v.get("met") is not None
        print(("ok" if good else "not ok") + f" - bench quick: {label}: moat against the best peer"
              + ("" if good else f" # {v}"))
v = d["results"].get("moat", {}).get("full_pq") or {}
good = v.get("us_per_handshake") is not None and not v.get("error") and not v.get("failed")
print(("ok" if good else "not ok") + " - bench quick: moat full_pq (X25519MLKEM768) measured"
      + ("" if good else f" # {json.dumps(v)[:300]}"))
kx = d.get("kex") or {}
good = all(kx.get(k, 0) > 0 for k in ("mlkem768_keygen_us", "mlkem768_encaps_us", "mlkem768_decaps_us",
                                     "x25519_keygen_us", "x25519mlkem768_server_us"))
print(("ok" if good else "not ok") + " - bench quick: ML-KEM-768 and X25519 step costs measured")
cg = d.get("callgrind") or {}
for k in ("full_p256_server", "full_p256_client", "resume_p256_server", "full_rsa_server",
          "records_p256_server", "records_p256_client"):
    v = cg.get(k) or {}
    good = v.get("ir_per_op", {}).get("moat", 0) > 0 and v.get("ir_per_op", {}).get("libcrypto", 0) > 0
    print(("ok" if good else "not ok") + f" - bench quick: callgrind {k} counted")
good = all(d.get("servers", {}).values()) and len(d.get("servers", {})) >= 7
print(("ok" if good else "not ok") + " - bench quick: JSON keeps every server command line")
PY
	[ $? -eq 0 ] || notok "bench quick: the JSON reads as expected" "see below"
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*)
			l=${line#not ok - }
			case $l in
			*" # "*) notok "${l%% \# *}" "${l#* \# }" ;;
			*) notok "$l" ;;
			esac
			;;
		*) echo "# $line" ;;
		esac
	done <"$T_TMP/json.check"
else
	notok "bench quick: writes the JSON"
	diag "$out"
fi
finish
