#!/usr/bin/env bash
# moat get judges certificates as Chromium does: each case of
# trust-cases.py (names, wildcards, IP SANs, name constraints, basic
# constraints, key usages, SHA-1, weak keys, validity, chains, cross-signing,
# OCSP staples) is served by openssl s_server and fetched by headless
# Chromium, trusting the test roots through an NSS database, and by moat get
# trusting the same roots; both must accept, or both refuse with the same
# NET::ERR name. Chromium reads no CRL file, so the CRL cases hold moat get
# --crl to the verdict each states instead (NOCRL in trust-cases.py).
. "$(dirname "$0")/../lib.sh"
need chromium certutil openssl python3 || { finish; exit; }
need_moat
T0=$(date +%s)
G=$T_TMP/trust
if ! python3 "$MOAT_ROOT/tests/interop/trust-cases.py" "$G" >"$T_TMP/gen.out" 2>&1; then
	notok "trust: certificates generated" "trust-cases.py failed"
	diag "$T_TMP/gen.out" "$G/gen.log"
	finish
	exit
fi
echo "# $(cat "$T_TMP/gen.out") generated in $(($(date +%s) - T0)) s"

# Chromium's trust: an NSS database in the HOME it runs with, each root of
# trusted.txt trusted to issue server certificates ("C,,").
HOMEC=$T_TMP/chrome-home
NSS=$HOMEC/.pki/nssdb
mkdir -p "$NSS"
if ! certutil -N -d "sql:$NSS" --empty-password >"$T_TMP/certutil.log" 2>&1; then
	notok "trust: an NSS database for chromium"
	diag "$T_TMP/certutil.log"
	finish
	exit
fi
while read -r f; do
	certutil -A -d "sql:$NSS" -n "${f%.pem}" -t "C,," -i "$G/$f" >>"$T_TMP/certutil.log" 2>&1 ||
		notok "trust: certutil adds $f"
done <"$G/trusted.txt"

WWW=$T_TMP/www
mkdir -p "$WWW"
TOKEN="moat-trust-$RANDOM$RANDOM"
printf '<!doctype html><title>t</title><p>%s</p>\n' "$TOKEN" >"$WWW/index.html"

# url HOST PORT
url() {
	case $1 in
	*:*) echo "https://[$1]:$2/index.html" ;;
	*) echo "https://$1:$2/index.html" ;;
	esac
}

# addr HOST: the loopback address the server of HOST listens on.
addr() {
	case $1 in
	*:*) echo "[::1]" ;;
	*) echo 127.0.0.1 ;;
	esac
}

# chrome NAME HOST PORT LANE: Chromium's verdict in V, OK or ERR_...; a load
# that gives neither (a start-up hiccup) is tried once more, then NONE.
chrome() {
	local name=$1 host=$2 port=$3 prof=$T_TMP/profile-$4 try out
	for try in 1 2; do
		out=$T_TMP/chrome-$name.$try
		rm -rf "$prof"
		HOME=$HOMEC timeout 30 chromium --headless --no-sandbox --disable-gpu --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync --disable-quic \
			--user-data-dir="$prof" --host-resolver-rules="MAP *.test 127.0.0.1" \
			--dump-dom "$(url "$host" "$port")" >"$out" 2>"$out.err" </dev/null
		if grep -q "$TOKEN" "$out"; then
			V=OK
			return
		fi
		V=$(grep -o 'Page load failed: net::ERR_[A-Z0-9_]*' "$out.err" | tail -n 1)
		V=${V#Page load failed: net::}
		[ -n "$V" ] && return
	done
	V=NONE
}

# moatv NAME HOST PORT [ARGS...]: moat get's verdict in M: OK, ERR_... (the
# browser's name of a refusal, exit 60: NET::ERR_CERT_... for a certificate
# error, ERR_SSL_... for one Chromium reports as a TLS error, as it does
# ERR_SSL_KEY_USAGE_INCOMPATIBLE), or exitN for any other failure.
moatv() {
	local name=$1 host=$2 port=$3 out=$T_TMP/moat-$1
	shift 3
	local res=()
	case $host in *.test) res=(--resolve "$host:$port:127.0.0.1") ;; esac
	timeout "$T_CLIENT" "$MOAT" get -s --cacert "$G/trusted.pem" "${res[@]}" "$@" "$(url "$host" "$port")" \
		>"$out" 2>"$out.err" </dev/null
	local rc=$?
	if [ $rc -eq 0 ] && grep -q "$TOKEN" "$out"; then
		M=OK
	elif [ $rc -eq 60 ] && grep -qE '\((NET::)?ERR_[A-Z0-9_]+\)' "$out.err"; then
		M=$(grep -oE '\((NET::)?ERR_[A-Z0-9_]+\)' "$out.err" | tail -n 1 | tr -d '()')
		M=${M#NET::}
	else
		M=exit$rc
	fi
}

# one_case LANE NAME HOST CERT REST KEY STAPLE CRL EXPECT WHY: serve the
# case with s_server, judge it, and leave the verdicts in $T_TMP/res/NAME:
# chromium's, moat's, and "yes" or "NO" for agreement.
one_case() {
	local lane=$1 name=$2 host=$3 cert=$4 rest=$5 key=$6 staple=$7 crl=$8 expect=$9 port spid agree
	local args=(-cert "$G/$cert" -key "$G/$key")
	[ "$rest" = - ] || args+=(-cert_chain "$G/$rest")
	[ "$staple" = - ] || args+=(-status_file "$G/$staple")
	# The lanes take ports of their own parity, so they never pick the same.
	while port=$(free_port) && [ $((port % LANES)) -ne "$lane" ]; do :; done
	# The certificates are served as they are: SHA-1 and RSA 768 included.
	bg_start "$T_TMP/s_server-$name" bash -c 'cd "$1" && shift && exec "$@"' _ "$WWW" \
		openssl s_server -tls1_3 -WWW -accept "$(addr "$host"):$port" -cipher 'ALL:@SECLEVEL=0' "${args[@]}"
	spid=$BG_PID
	echo "$spid" >"$T_TMP/spid.$lane"
	if ! wait_listen "$port"; then
		printf 's_server\n' >"$T_TMP/res/$name"
		bg_stop "$spid"
		return
	fi
	if [ "$crl" = - ]; then
		chrome "$name" "$host" "$port" "$lane"
		moatv "$name" "$host" "$port"
		[ "$V" = "$M" ] && agree=yes || agree=NO
	else
		# Chromium reads no CRL file, so it has no verdict here: moat is held
		# to the verdict the case states (its why says where that comes from).
		moatv "$name" "$host" "$port" --crl "$G/$crl"
		V="N/A, reads no CRL file (expected $expect)"
		[ "$expect" = "$M" ] && agree=yes || agree=NO
	fi
	bg_stop "$spid"
	printf '%s\t%s\t%s\n' "$V" "$M" "$agree" >"$T_TMP/res/$name"
}

# Two lanes (TRUST_LANES) judge the cases side by side: Chromium's start-up,
# not the handshake, is what takes the time.
LANES=${TRUST_LANES:-2}
mkdir -p "$T_TMP/res"
trap 'kill $(cat "$T_TMP"/spid.* 2>/dev/null) 2>/dev/null; t_cleanup' EXIT
for lane in $(seq 0 $((LANES - 1))); do
	(
		trap 'exit 143' TERM
		n=0
		while IFS=$'\t' read -r name host cert rest key staple crl expect why; do
			[[ $name =~ ${TRUST_ONLY:-.} ]] || continue
			n=$((n + 1))
			[ $((n % LANES)) -eq "$lane" ] || continue
			one_case "$lane" "$name" "$host" "$cert" "$rest" "$key" "$staple" "$crl" "$expect"
		done <"$G/cases.tsv"
	) &
	T_PIDS+=($!)
done
wait

TABLE=$T_TMP/table
: >"$TABLE"
while IFS=$'\t' read -r name host cert rest key staple crl expect why; do
	[[ $name =~ ${TRUST_ONLY:-.} ]] || continue
	IFS=$'\t' read -r V M agree <"$T_TMP/res/$name" 2>/dev/null
	if [ "${V:-}" = s_server ] || [ -z "${agree:-}" ]; then
		notok "trust $name: openssl s_server serves it"
		diag "$T_TMP/s_server-$name.err"
		continue
	fi
	if [ "$crl" = - ]; then
		line="trust $name chromium=$V moat=$M"
	else
		line="trust $name chromium=N/A expected=$expect moat=$M"
	fi
	if [ "$agree" = yes ]; then ok "$line"; else notok "$line"; diag "$T_TMP/moat-$name.err"; fi
	[ "$crl" = - ] || echo "# $name: $why"
	printf '%s\t%s\t%s\t%s\n' "$name" "$V" "$M" "$agree" >>"$TABLE"
done <"$G/cases.tsv"

echo "# case | chromium | moat | agree"
sed 's/\t/ | /g; s/^/# /' "$TABLE"
echo "# $(wc -l <"$TABLE") cases in $(($(date +%s) - T0)) s"
finish
