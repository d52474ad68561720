#!/usr/bin/env python3
"""Searches the memory of a live process for the TLS secrets of a key log,
for tests/interop/83: after its connections have ended, a worker of moat
serve must hold none of them (SECURITY.md: secrets are wiped).

    memsecrets.py PID KEYLOG

Reads every readable and writable mapping of PID that a core dump would
hold through /proc/PID/mem (root, or the same user with ptrace allowed)
and looks for each secret of
KEYLOG (NSS key log format) and for what RFC 8446 derives from the traffic
secrets: the next three generations of a KeyUpdate (7.2) and the AEAD key
and IV of each (7.3), for either key length. Prints one line per secret
found, where, then "secrets N found F" (N: how many were looked for).
Exit 0 when none was found, 1 when any was, 2 on a usage or read error.
"""
import hashlib
import hmac
import re
import sys


def expand_label(h, secret, label, length):
    """HKDF-Expand-Label (RFC 8446 7.1) with an empty context."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), h).digest()
        out += block
        i += 1
    return out[:length]


def wanted(keylog):
    """(name, bytes) for each secret of the key log and what it derives."""
    found = []
    for line in open(keylog):
        parts = line.split()
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]+", parts[2]):
            continue
        label, rnd, secret = parts[0], parts[1][:8], bytes.fromhex(parts[2])
        h = hashlib.sha384 if len(secret) == 48 else hashlib.sha256
        found.append((f"{label} {rnd}", secret))
        if "TRAFFIC_SECRET" not in label:
            continue
        gen = secret
        for n in range(4):
            if n:
                gen = expand_label(h, gen, b"traffic upd", len(secret))
                found.append((f"{label} {rnd} update {n}", gen))
            for kl in (16, 32):
                found.append((f"{label} {rnd} update {n} key{kl}", expand_label(h, gen, b"key", kl)))
            found.append((f"{label} {rnd} update {n} iv", expand_label(h, gen, b"iv", 12)))
    return found


def regions(pid):
    """The readable and writable mappings a core dump would hold: those
    with resident pages and not marked MADV_DONTDUMP (the "dd" flag, which
    AddressSanitizer puts on its terabytes of shadow)."""
    head, rss, flags = None, 0, ""
    for line in list(open(f"/proc/{pid}/smaps")) + ["end-end x"]:
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            if head and rss and "dd" not in flags.split() and "rd" in flags.split() \
                    and "wr" in flags.split() and head[2] not in ("[vvar]", "[vsyscall]"):
                yield head
            if f[0] == "end-end":
                return
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            head, rss, flags = (lo, hi, f[5] if len(f) > 5 else "[anon]"), 0, ""
        elif f[0] == "Rss:":
            rss = int(f[1])
        elif f[0] == "VmFlags:":
            flags = " ".join(f[1:])


CHUNK = 1 << 24


def chunks(mem, lo, hi, overlap):
    """The bytes of [lo, hi) in pieces that overlap by overlap bytes, so a
    secret across a boundary is still whole in one of them."""
    at = lo
    while at < hi:
        try:
            mem.seek(at)
            data = mem.read(min(CHUNK, hi - at))
        except OSError:
            data = b""
        yield at, data
        if at + CHUNK >= hi:
            return
        at += CHUNK - overlap


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    pid, keylog = sys.argv[1], sys.argv[2]
    secrets = wanted(keylog)
    if not secrets:
        print("no secret in the key log", file=sys.stderr)
        return 2
    hits = set()
    overlap = max(len(b) for _, b in secrets)
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, name in regions(pid):
            for base, data in chunks(mem, lo, hi, overlap):
                for what, b in secrets:
                    at = data.find(b)
                    if at >= 0 and (what, base + at) not in hits:
                        hits.add((what, base + at))
                        print(f"found {what} at {base + at:#x} in {name}")
    hits = len(hits)
    print(f"secrets {len(secrets)} found {hits}")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
