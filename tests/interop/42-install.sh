#!/usr/bin/env bash
# make install into a DESTDIR: the file list, libmoat.so's exports against
# the functions include/moat/ declares, moat.pc, the man page; the two
# examples built against the installed library (shared and static) and run
# against openssl s_server and s_client; make uninstall leaves nothing.
# shellcheck disable=SC2016 # checks eval their conditions, quoted
. "$(dirname "$0")/../lib.sh"
need cc make pkg-config nm readelf gcc man groff openssl || { finish; exit; }
need_moat
gen_certs || { finish; exit; }

D=$T_TMP/dest
P=/usr/local
MK=(make -s -C "$MOAT_ROOT" DESTDIR="$D" PREFIX="$P")
if timeout 600 "${MK[@]}" install >"$T_TMP/install.log" 2>&1; then
	ok "install: make install DESTDIR PREFIX=$P"
else
	notok "install: make install DESTDIR PREFIX=$P"
	diag "$T_TMP/install.log"
	finish
	exit
fi
VERSION=$("$MOAT" version 2>&1 | awk '{print $2; exit}')

# The files, exactly.
(cd "$D" && find . \( -type f -o -type l \) | sed 's|^\./|/|' | sort) >"$T_TMP/files"
{
	echo "$P/bin/moat"
	for h in "$MOAT_ROOT"/include/moat/*.h; do echo "$P/include/moat/${h##*/}"; done
	echo "$P/lib/libmoat.a"
	echo "$P/lib/libmoat.so"
	echo "$P/lib/libmoat.so.0"
	echo "$P/lib/libmoat.so.$VERSION"
	echo "$P/lib/pkgconfig/moat.pc"
	echo "$P/share/man/man1/moat.1"
} | sort >"$T_TMP/files.want"
if diff "$T_TMP/files.want" "$T_TMP/files" >"$T_TMP/files.diff"; then
	ok "install: the files installed are the command, both libraries, the headers, moat.pc and moat.1"
else
	notok "install: the files installed are the command, both libraries, the headers, moat.pc and moat.1"
	diag "$T_TMP/files.diff"
fi
L=$D$P/lib
check "install: libmoat.so -> libmoat.so.0 -> libmoat.so.$VERSION" \
	test "$(readlink "$L/libmoat.so")" = libmoat.so.0 -a "$(readlink "$L/libmoat.so.0")" = "libmoat.so.$VERSION"
readelf -d "$L/libmoat.so.$VERSION" >"$T_TMP/dynamic" 2>&1
check "install: libmoat.so's soname is libmoat.so.0" has "$T_TMP/dynamic" 'SONAME.*\[libmoat\.so\.0\]'
check "install: libmoat.so needs libcrypto" has "$T_TMP/dynamic" 'NEEDED.*\[libcrypto\.so\.3\]'

# Exports: nm -D against the declarations, as the compiler reads them
# (gcc -aux-info, independent of mk/exports.sh's reading of the headers).
for h in "$D$P"/include/moat/*.h; do echo "#include <moat/${h##*/}>"; done >"$T_TMP/all.c"
gcc -I"$D$P/include" -fsyntax-only -aux-info "$T_TMP/aux" "$T_TMP/all.c" 2>"$T_TMP/aux.err"
grep '/include/moat/' "$T_TMP/aux" | sed -E 's/.*[ *](moat_[A-Za-z0-9_]+) \(.*/\1/' | sort -u >"$T_TMP/declared"
nm -D --defined-only "$L/libmoat.so.$VERSION" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$T_TMP/exported"
echo "# $(wc -l <"$T_TMP/exported") symbols exported, $(wc -l <"$T_TMP/declared") functions declared in include/moat/"
if [ -s "$T_TMP/declared" ] && diff "$T_TMP/declared" "$T_TMP/exported" >"$T_TMP/exports.diff"; then
	ok "install: libmoat.so exports exactly the functions include/moat/ declares"
else
	notok "install: libmoat.so exports exactly the functions include/moat/ declares" "< declared only, > exported only"
	DIAG_LINES=40 diag "$T_TMP/exports.diff" "$T_TMP/aux.err"
fi
nm -D --defined-only "$L/libmoat.so.$VERSION" | awk '$2 != "T"' >"$T_TMP/not-code"
check "install: libmoat.so exports no data, only functions" test ! -s "$T_TMP/not-code"

# moat.pc, read from the DESTDIR through its prefix variable.
export PKG_CONFIG_PATH=$L/pkgconfig
PC=(pkg-config --define-variable=prefix="$D$P")
check "install: pkg-config --modversion moat is $VERSION" test "$("${PC[@]}" --modversion moat 2>&1)" = "$VERSION"
pc() { "${PC[@]}" "$@" moat | sed 's/ *$//'; } # without pkg-config's trailing blank
CFL=$(pc --cflags) LIBS=$(pc --libs) SLIBS=$(pc --static --libs)
echo "# cflags: $CFL; libs: $LIBS; static: $SLIBS"
check "install: pkg-config --cflags --libs moat" test "$CFL $LIBS" = "-I$D$P/include -L$L -lmoat"
check "install: pkg-config --static --libs moat adds libcrypto and libidn2" \
	eval '[[ " $SLIBS " == *" -lcrypto "* && " $SLIBS " == *" -lidn2 "* ]]'

# The man page renders, without warnings, and covers the three commands.
MAN=$D$P/share/man/man1/moat.1
MANWIDTH=80 timeout 20 man -l "$MAN" >"$T_TMP/man.txt" 2>"$T_TMP/man.err"
check "install: man -l moat.1 covers serve, get and ca" \
	eval 'has "$T_TMP/man.txt" "^MOAT SERVE" && has "$T_TMP/man.txt" "^MOAT GET" && has "$T_TMP/man.txt" "^MOAT CA"'
groff -man -ww -z "$MAN" >"$T_TMP/groff.err" 2>&1
check "install: moat.1 has no groff warnings" test ! -s "$T_TMP/groff.err"
for c in serve get ca; do
	for o in $("$MOAT" $c --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		grep -qF -- "${o//-/\\-}" "$MAN" || echo "moat $c $o"
	done
done >"$T_TMP/man.missing"
check "install: moat.1 names every long flag of moat serve, get and ca --help" test ! -s "$T_TMP/man.missing"
diag "$T_TMP/man.missing"

# The examples, from the installed headers and library only.
B=$T_TMP/ex
mkdir -p "$B"
WARN=(-std=c11 -Wall -Wextra -Werror -pedantic)
for e in client server; do
	src=$MOAT_ROOT/examples/$e.c
	check "examples: $e.c includes no header of moat but <moat/*.h>" \
		eval '! grep -E "^#include \"" "$src" && ! grep -E "^#include <moat/" "$src" | grep -vE "<moat/(buf|error|http|tls|tlsfile)\.h>"'
	# shellcheck disable=SC2086
	if cc "${WARN[@]}" -o "$B/$e-shared" "$src" $CFL $LIBS >"$B/$e-shared.log" 2>&1; then
		ok "examples: $e builds against libmoat.so with pkg-config --cflags --libs moat"
	else
		notok "examples: $e builds against libmoat.so with pkg-config --cflags --libs moat"
		diag "$B/$e-shared.log"
	fi
	# shellcheck disable=SC2086
	if cc "${WARN[@]}" -o "$B/$e-static" "$src" $CFL ${SLIBS/-lmoat/-Wl,-Bstatic -lmoat -Wl,-Bdynamic} \
		>"$B/$e-static.log" 2>&1; then
		ok "examples: $e builds against libmoat.a with pkg-config --static"
	else
		notok "examples: $e builds against libmoat.a with pkg-config --static"
		diag "$B/$e-static.log"
	fi
	check "examples: $e-shared needs libmoat.so.0" eval 'readelf -d "$B/$e-shared" | grep -q "NEEDED.*libmoat\.so\.0"'
	check "examples: $e-static does not need libmoat.so" eval '[ -x "$B/$e-static" ] && ! readelf -d "$B/$e-static" | grep -q libmoat'
done
export LD_LIBRARY_PATH=$L

# The client against openssl s_server -www (its status page).
PEER_PORT=$(free_port)
bg_start "$T_TMP/s_server" openssl s_server -tls1_3 -www -accept "127.0.0.1:$PEER_PORT" \
	-cert "$CERTS/p256.pem" -key "$CERTS/p256.key"
PEER_PID=$BG_PID
if wait_listen "$PEER_PORT"; then
	for k in shared static; do
		out=$T_TMP/client-$k
		timeout "$T_CLIENT" "$B/client-$k" localhost "$PEER_PORT" "$CERTS/ca.pem" >"$out" 2>"$out.err"
		rc=$?
		if [ $rc -eq 0 ] && has "$out" '^HTTP/1.0 200 ok' && has "$out" 'TLSv1.3' && has "$out.err" '^client: TLS 1.3, TLS_'; then
			ok "examples: client ($k) fetches openssl s_server -www's page, verified"
		else
			notok "examples: client ($k) fetches openssl s_server -www's page, verified" "exit $rc"
			diag "$out" "$out.err"
		fi
	done
	out=$T_TMP/client-wrongca
	timeout "$T_CLIENT" "$B/client-shared" localhost "$PEER_PORT" "$CERTS/selfsigned.pem" >"$out" 2>"$out.err"
	rc=$?
	if [ $rc -ne 0 ] && has "$out.err" "NET::ERR_CERT_AUTHORITY_INVALID"; then
		ok "examples: client refuses s_server's certificate under another CA"
	else
		notok "examples: client refuses s_server's certificate under another CA" "exit $rc"
		diag "$out.err"
	fi
	bg_stop "$PEER_PID"
else
	notok "examples: openssl s_server -www starts"
	diag "$T_TMP/s_server.out" "$T_TMP/s_server.err"
fi

# The server against openssl s_client: one connection each.
for k in shared static; do
	port=$(free_port)
	bg_start "$T_TMP/server-$k" "$B/server-$k" "$port" "$CERTS/p256-chain.pem" "$CERTS/p256.key" 1
	pid=$BG_PID
	if ! wait_listen "$port"; then
		notok "examples: server ($k) listens"
		diag "$T_TMP/server-$k.err"
		bg_stop "$pid"
		continue
	fi
	out=$T_TMP/s_client-$k
	http_req / | timeout "$T_CLIENT" openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-CAfile "$CERTS/ca.pem" -verify_return_error -ign_eof >"$out" 2>&1
	if has "$out" '^HTTP/1.1 200 OK' && has "$out" '^hello from moat over TLS_' && has "$out" 'Verify return code: 0'; then
		ok "examples: server ($k) answers openssl s_client"
	else
		notok "examples: server ($k) answers openssl s_client"
		diag "$out" "$T_TMP/server-$k.err"
	fi
	timeout 5 tail --pid="$pid" -f /dev/null
	check "examples: server ($k) exits 0 after its one connection" eval 'wait "$pid"'
done
unset LD_LIBRARY_PATH

# make uninstall leaves no file behind.
if timeout 120 "${MK[@]}" uninstall >"$T_TMP/uninstall.log" 2>&1; then
	find "$D" \( -type f -o -type l \) >"$T_TMP/left"
	check "install: make uninstall leaves no file behind" test ! -s "$T_TMP/left"
	diag "$T_TMP/left"
else
	notok "install: make uninstall"
	diag "$T_TMP/uninstall.log"
fi
finish
