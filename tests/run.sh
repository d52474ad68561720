#!/usr/bin/env bash
# tests/run.sh: moat's whole test suite (`make test`). Installs missing test
# peers when root, builds (plain, ASan+UBSan, clang), runs every unit test
# program in both builds, then every interop script, and ends with exactly
# one line "N passed, M failed". Full output of each step: tests/out/.
#
#   tests/run.sh                  everything
#   tests/run.sh --install-peers  only install what the tests need, then exit
#   tests/run.sh interop/50-hostile.sh ...   only these interop scripts
#                                 (after the builds; no unit tests)
# Environment: MOAT_TEST_NO_ASAN=1 skips the ASan build and its runs;
# MOAT_TEST_VALGRIND=1 also runs the unit tests under valgrind;
# MOAT_FUZZ_SECONDS (default 40, 0 skips) bounds each fuzz target;
# T_CLIENT (default 10) bounds each client command in interop scripts.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=$ROOT/tests/out
START=$(date +%s)

# command:package pairs; a command we cannot find or install is a failure.
PEERS="openssl:openssl gnutls-cli:gnutls-bin gnutls-serv:gnutls-bin curl:curl certutil:libnss3-tools
tstclnt:libnss3-tools tshark:tshark clang:clang valgrind:valgrind ss:iproute2 timeout:coreutils
make:make testssl:testssl.sh cc:build-essential pkg-config:pkg-config chromium:chromium nginx:nginx-light python3:python3 wrk:wrk
node:nodejs npm:npm h2o:h2o taskset:util-linux man:man-db groff:groff-base nm:binutils
haproxy:haproxy promtool:prometheus prometheus:prometheus systemd-analyze:systemd pebble:pebble pebble-challtestsrv:pebble flock:util-linux bc:bc
nghttp:nghttp2-client nghttpd:nghttp2-server h2load:nghttp2-client"
# packages without a command of their own: package:file that shows it is there
FILES="libssl-dev:/usr/include/openssl/evp.h libidn2-dev:/usr/include/idn2.h libjansson-dev:/usr/include/jansson.h valgrind:/usr/include/valgrind/memcheck.h libnghttp2-dev:/usr/include/nghttp2/nghttp2.h time:/usr/bin/time
zlib1g-dev:/usr/include/zlib.h libbrotli-dev:/usr/include/brotli/decode.h python3-brotli:/usr/lib/python3/dist-packages/brotli.py
python3-h2:/usr/lib/python3/dist-packages/h2/__init__.py"

missing_pkgs() {
	local pair cmd pkg
	for pair in $PEERS; do
		cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null 2>&1 || echo "$pkg"
	done
	for pair in $FILES; do
		pkg=${pair%%:*}
		[ -e "${pair#*:}" ] || echo "$pkg"
	done
}

install_peers() {
	local pkgs
	pkgs=$(missing_pkgs | sort -u | tr '\n' ' ')
	[ -z "${pkgs// /}" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "# missing: $pkgs(not root, so not installing)"
		return 1
	fi
	echo "# installing: $pkgs"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no, silently.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null
	{
		timeout 600 apt-get update -q &&
			# shellcheck disable=SC2086
			timeout 1200 apt-get install -y -q --no-install-recommends $pkgs
	} >"$OUT/apt.log" 2>&1 || {
		echo "# apt-get failed; see tests/out/apt.log"
		tail -n 5 "$OUT/apt.log" | sed 's/^/#   /'
		return 1
	}
}

mkdir -p "$OUT"
if [ "${1:-}" = --install-peers ]; then
	install_peers
	exit
fi

rm -rf "$OUT"
mkdir -p "$OUT/unit" "$OUT/asan" "$OUT/interop" "$OUT/tmp"
# Interop scripts keep their temp dir (certs, server logs) when they fail.
export TMPDIR=$OUT/tmp

PASS=0
FAIL=0
FAILURES=()

fail() { # fail NAME: a failure that is not an ok/not ok line of a program
	FAIL=$((FAIL + 1))
	FAILURES+=("$1")
	echo "not ok - $1"
}

# tally NAME LOG RC: count ok/not ok lines of one program's output.
tally() {
	local name=$1 log=$2 rc=$3 p f
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^not ok - ' "$log")
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	while IFS= read -r line; do
		FAILURES+=("$name: ${line#not ok - }")
	done < <(grep '^not ok - ' "$log")
	local note=""
	if [ "$rc" -eq 124 ]; then
		fail "$name: timed out (see ${log#"$ROOT"/})"
		note=" TIMED OUT"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "$name: exited $rc without a 'not ok' line (crash?) (see ${log#"$ROOT"/})"
		note=" EXIT $rc"
	elif [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		fail "$name: printed no test results (see ${log#"$ROOT"/})"
	fi
	printf '  %-40s %4d passed, %d failed%s\n' "$name" "$p" "$f" "$note"
}

# run_prog NAME LOG SECONDS CMD...: run one test program, bounded.
run_prog() {
	local name=$1 log=$2 secs=$3 rc
	shift 3
	timeout -k 10 "$secs" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	tally "$name" "$log" "$rc"
}

echo "== peers"
if ! install_peers; then :; fi
for pkg in $(missing_pkgs | sort -u); do
	fail "test peer package $pkg is installed (tests/run.sh installs it when run as root)"
done

echo "== build"
build() { # build NAME LOG MAKE-ARGS...
	local name=$1 log=$2
	shift 2
	if timeout 1200 make -j"$(nproc)" "$@" >"$log" 2>&1; then
		PASS=$((PASS + 1))
		echo "  $name: ok"
	else
		fail "build: $name (see ${log#"$ROOT"/})"
		grep -E 'error|Error' "$log" | head -n 10 | sed 's/^/#   /'
	fi
}
build "make" "$OUT/build.log"
[ -n "${MOAT_TEST_NO_ASAN:-}" ] || build "make asan" "$OUT/build-asan.log" asan
if command -v clang >/dev/null 2>&1; then
	build "make CC=clang (warnings are errors)" "$OUT/build-clang.log" B=build/clang CC=clang all
fi

RUN_UNIT=1
[ $# -gt 0 ] && RUN_UNIT=0
if [ $RUN_UNIT -eq 1 ]; then
	echo "== unit tests"
	for t in build/tests/test_*; do
		[ -x "$t" ] || continue
		run_prog "unit/${t##*/}" "$OUT/unit/${t##*/}.log" 600 "$t"
	done
	if [ -z "${MOAT_TEST_NO_ASAN:-}" ]; then
		echo "== unit tests, ASan+UBSan build"
		export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
		export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
		for t in build/asan/tests/test_*; do
			[ -x "$t" ] || continue
			run_prog "asan/${t##*/}" "$OUT/asan/${t##*/}.log" 900 "$t"
		done
	fi
	if [ -n "${MOAT_TEST_VALGRIND:-}" ]; then
		echo "== unit tests under valgrind"
		mkdir -p "$OUT/valgrind"
		for t in build/tests/test_*; do
			[ -x "$t" ] || continue
			run_prog "valgrind/${t##*/}" "$OUT/valgrind/${t##*/}.log" 1800 \
				valgrind -q --error-exitcode=99 --leak-check=full "$t"
		done
	fi
fi

echo "== interop (real peers, real sockets)"
if [ $# -gt 0 ]; then
	SCRIPTS=()
	for s in "$@"; do SCRIPTS+=("tests/${s#tests/}"); done
else
	SCRIPTS=(tests/interop/*.sh)
fi
for s in "${SCRIPTS[@]}"; do
	[ -f "$s" ] || { fail "interop script $s exists"; continue; }
	n=${s##*/}
	run_prog "interop/${n%.sh}" "$OUT/interop/${n%.sh}.log" 900 bash "$s"
done
# The scripts that feed moat the most varied and hostile input, again with
# the ASan+UBSan moat: a memory error there ends the server or the client.
# (Not the RSS-bounded loads, 72 and 85, nor 52, whose LD_PRELOAD shim
# cannot sit before ASan's runtime.)
if [ -z "${MOAT_TEST_NO_ASAN:-}" ] && [ $# -eq 0 ] && [ -x build/asan/moat ]; then
	echo "== interop with the ASan+UBSan moat"
	for n in 10-serve-openssl 11-serve-gnutls 13-serve-nss 14-tls12 16-h2-attacks 20-get-openssl 50-hostile \
		80-serve-resume-mtls-ocsp 81-serve-http 86-proxy-edge 90-get-nginx 91-get-post-session \
		92-get-errors 93-get-hosts 93-get-trust 94-get-h2 96-get-flags 65-cert-pebble 84-serve-json-notify \
		88-metrics-prometheus 66-serve-acme 97-get-net; do
		[ -f "tests/interop/$n.sh" ] || continue
		MOAT=$ROOT/build/asan/moat T_CLIENT=20 \
			run_prog "interop-asan/$n" "$OUT/interop/asan-$n.log" 900 bash "tests/interop/$n.sh"
	done
fi

# Fuzzing, bounded (make fuzz; fuzz/run.sh): each target in turn for
# MOAT_FUZZ_SECONDS (default 40; 0 skips), from its seed corpus: with
# about twenty targets the stage stays near thirteen minutes.
FUZZ_SECS=${MOAT_FUZZ_SECONDS:-40}
if [ $# -eq 0 ] && [ "$FUZZ_SECS" -gt 0 ]; then
	echo "== fuzzing, ${FUZZ_SECS}s per target"
	run_prog "fuzz" "$OUT/fuzz.log" $((FUZZ_SECS * 12 + 900)) make fuzz FUZZ_SECONDS="$FUZZ_SECS"
	grep -E '^(not )?ok - fuzz' "$OUT/fuzz.log" | sed 's/^/  /'
fi

ELAPSED=$(($(date +%s) - START))
echo
echo "== $((ELAPSED / 60))m$((ELAPSED % 60))s; logs in tests/out/"
if [ "$FAIL" -gt 0 ]; then
	echo "== failures"
	for f in "${FAILURES[@]}"; do echo "  $f"; done
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
