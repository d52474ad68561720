#!/usr/bin/env bash
# The file-level dependency graph of src/, from #include lines and from the
# calls nm reads in the objects beside $MOAT (tests/deps.py): one check per
# rule, no upward call or include per layer, no file cycle per layer.
. "$(dirname "$0")/../lib.sh"
need python3 nm || { finish; exit; }
need_moat
python3 "$MOAT_ROOT/tests/deps.py" "$(dirname "$MOAT")"
