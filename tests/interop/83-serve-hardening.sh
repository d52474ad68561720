#!/usr/bin/env bash
# moat serve against what a security review found: workers under --user
# end with a master killed with SIGKILL.
. "$(dirname "$0")/../lib.sh"
need openssl curl python3 || { finish; exit; }
need_moat
gen_certs || { finish; exit; }
S=$T_TMP/site
make_site "$S"
C=$CERTS

# ---- --user: a worker ends with its master, even one killed with SIGKILL
# (the kernel clears PR_SET_PDEATHSIG on a change of user, so it must be
# set after it), and a new master can take the port at once.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 755 "$T_TMP"
	if moat_serve "user" "$S" --cert "$C/p256.pem" --key "$C/p256.key" --workers 2 --user nobody; then
		port=$SRV_PORT
		for i in $(seq 1 30); do [ "$(pgrep -P "$SRV_PID" | wc -l)" = 2 ] && break; sleep 0.1; done
		wks=$(pgrep -P "$SRV_PID")
		{ kill -9 "$SRV_PID"; wait "$SRV_PID"; } 2>/dev/null
		left=
		for i in $(seq 1 30); do
			left=
			for w in $wks; do alive "$w" && left="$left $w"; done
			[ -z "$left" ] && break
			sleep 0.1
		done
		check "--user nobody: both workers end within 3 s of kill -9 of the master (left:${left:- none})" [ -z "$left" ]
		bg_start "$T_TMP/again" "$MOAT" serve "$S" --listen "127.0.0.1:$port" --cert "$C/p256.pem" --key "$C/p256.key" --workers 1
		again=$BG_PID
		if wait_file_line "$T_TMP/again.out" "^moat: serving" 5; then
			ok "--user nobody: a new master binds the port of the one killed"
		else
			notok "--user nobody: a new master binds the port of the one killed"
			diag "$T_TMP/again.err"
		fi
		bg_stop "$again"
		for w in $left; do kill -9 "$w" 2>/dev/null; done
	fi
else
	ok "--user: not root, privilege drop not tested # skip"
fi

finish
