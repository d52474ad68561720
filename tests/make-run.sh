#!/usr/bin/env bash
# tests/make-run.sh: `make run`. Serves examples/site at https://localhost:8443
# with a certificate from moat's local CA (made on first use) and says how to
# fetch it and how to trust the CA. Ctrl-C stops the server.
#   MOAT_RUN_LISTEN=127.0.0.1:9443 make run    another address
#   MOAT_CA_HOME=DIR make run                  another CA directory
set -u
cd "$(dirname "$0")/.." || exit 1
MOAT=${MOAT:-./build/moat}
LISTEN=${MOAT_RUN_LISTEN:-127.0.0.1:8443}
PORT=${LISTEN##*:}

if [ ! -x "$MOAT" ]; then
	echo "make-run: $MOAT is not built; run make first" >&2
	exit 1
fi
CA_DIR=$("$MOAT" ca path) || exit 1
READY=$(mktemp)
trap 'kill "$PID" 2>/dev/null; rm -f "$READY"' EXIT
trap 'exit 0' INT TERM

# Its stdout goes both to the terminal and to $READY, where we watch for
# the "moat: serving" line; stderr (the CA note, request log) to the terminal.
"$MOAT" serve examples/site --listen "$LISTEN" > >(tee "$READY") &
PID=$!
for _ in $(seq 1 300); do
	grep -q '^moat: serving' "$READY" 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || { wait "$PID"; exit $?; }
	sleep 0.1
done
if ! grep -q '^moat: serving' "$READY"; then
	echo "make-run: moat serve did not say it was ready within 30 s" >&2
	exit 1
fi

cat <<EOM

  Serving examples/site at https://localhost:$PORT/ (Ctrl-C stops it).
  Its certificate comes from moat's local CA in $CA_DIR.

  Fetch it, trusting that CA:
      $MOAT get --cacert $CA_DIR/rootCA.pem https://localhost:$PORT/
      curl --cacert $CA_DIR/rootCA.pem https://localhost:$PORT/

  Trust the CA in this machine's browsers: $MOAT ca trust
  or by hand: import $CA_DIR/rootCA.pem as an authority
  (Chromium: Settings > Privacy and security > Security > Manage certificates
  > Authorities > Import; Firefox: Settings > Privacy & Security > View
  Certificates > Authorities > Import). Keep rootCA-key.pem private: anyone
  holding it can make certificates this browser will trust.

EOM
wait "$PID"
