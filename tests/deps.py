#!/usr/bin/env python3
"""The file-level dependency graph of src/, and its rules checked.

    tests/deps.py [BUILD]          the graph as '#' lines, then one ok/not ok per rule
    tests/deps.py --dot [BUILD]    the graph for Graphviz (dot -Tsvg)

Edges come from two places: '#include "..."' lines (a file on a header),
and calls read from the objects BUILD/src/*/*.o (default build/): a symbol
one object leaves undefined (nm: U) and another defines is an exact call
(or data use) from the first file to the second. Calls through function
pointers are not seen. The rules (DEVELOPERS.md, ../shared/design.md):
layers, lowest first, core crypto tls tlsfile http ca client|server acme cli (client
and server are siblings); no file calls or includes a file of a higher
layer, nor of its sibling; no two files depend on each other, directly or
round a cycle; cli/ reaches only the layers that do its commands' work
(CLI_REACHES: server, client, ca, and core for exit statuses and
buffers), never crypto/ or tls/ directly; no file or socket I/O in tls/ and crypto/ (none of the
calls in NO_IO among their objects' undefined symbols: they take bytes
and give bytes, the callers read and write). Exit status 1 when a rule is
broken.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ["core", "crypto", "tls", "tlsfile", "http", "ca", "client", "server", "acme", "cli"]
# acme/ speaks to its CA through client/, so it sits above it.
RANK = {"core": 0, "crypto": 1, "tls": 2, "tlsfile": 3, "http": 4, "ca": 5, "client": 6, "server": 6,
        "acme": 7, "cli": 8}
SIBLINGS = {("client", "server"), ("server", "client")}
# The command line only parses, prints and hands over: the work behind it
# (and any libcrypto or engine call) is in these layers.
CLI_REACHES = {"cli", "server", "client", "ca", "acme", "core"}
# A library's symbol prefix and the layers that may call it.
LIB_LAYERS = {"nghttp2_": {"http", "client", "server"}, "inflate": {"client"}, "deflate": {"client"},
              "zlibVersion": {"client"}, "Brotli": {"client"}}
# Public headers: the layer whose files define what they declare.
PUBLIC = {"moat/buf.h": "core", "moat/error.h": "core", "moat/tls.h": "tls", "moat/tlsfile.h": "tlsfile",
          "moat/http.h": "http"}

# File and socket I/O, by the symbols an object calls: libc's files,
# directories and sockets, libcrypto's file readers (PEM_read_X, not
# PEM_read_bio_X), its store loaders, and core/'s whole-file helpers.
NO_IO = re.compile(r"^(f?open(64)?|openat(64)?|creat(64)?|read|write|pread(64)?|pwrite(64)?"
                   r"|fread|fwrite|fgets|fputs|fprintf|fscanf|fclose|opendir|fdopendir|readdir(64)?"
                   r"|scandir(64)?|(f|l)?stat(64|at|at64|x)?|__(f|l)?xstat(64)?|access|unlink|rename"
                   r"|mkdir|socket|connect|accept4?|bind|listen|send(to|msg)?|recv(from|msg)?"
                   r"|BIO_new_file|BIO_new_fp|BIO_new_fd|BIO_read_filename|BIO_s_file|BIO_s_fd"
                   r"|PEM_read_(?!bio)\w+|PEM_write_(?!bio)\w+|d2i_\w+_fp|i2d_\w+_fp"
                   r"|X509_STORE_load_\w+|X509_STORE_set_default_paths\w*|X509_LOOKUP_(file|hash_dir|store)"
                   r"|X509_LOOKUP_load_file\w*|X509_LOOKUP_add_dir|X509_load_\w+"
                   r"|core_read_file|core_read_fd|core_write_file_atomic)$")

# Outside libraries whose headers only some layers may include.

results = []  # (ok, name, detail lines)


def check(ok, name, detail=()):
    results.append((ok, name, list(detail)))


def layer(f):
    """src/tls/tls.c and tls/tls.c -> tls; include/moat/tls.h -> tls."""
    if f.startswith("include/"):
        return PUBLIC.get(f[len("include/"):], "?")
    return f.split("/")[-2]


def short(f):
    return f[len("src/"):] if f.startswith("src/") else f


def sources():
    out = []
    for d in sorted(os.listdir(os.path.join(ROOT, "src"))):
        p = os.path.join(ROOT, "src", d)
        if os.path.isdir(p):
            out += [f"src/{d}/{n}" for n in sorted(os.listdir(p)) if n.endswith((".c", ".h"))]
    return out


def include_edges(files):
    edges = {}  # (from, to) -> ["#include"]
    for f in files:
        with open(os.path.join(ROOT, f), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                inc = m[1]
                if os.path.exists(os.path.join(ROOT, "src", inc)):
                    to = "src/" + inc
                elif os.path.exists(os.path.join(ROOT, "include", inc)):
                    to = "include/" + inc
                else:
                    to = os.path.normpath(os.path.join(os.path.dirname(f), inc))
                edges.setdefault((f, to), []).append("#include")
    return edges


def call_edges(build, cfiles):
    """The call edges, the files with a stale object, and every object's undefined symbols."""
    defs, undefs, stale = {}, {}, []
    for f in cfiles:
        obj = os.path.join(build, f[:-2] + ".o")
        if not os.path.exists(obj) or os.path.getmtime(obj) < os.path.getmtime(os.path.join(ROOT, f)):
            stale.append(f)
            continue
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        undefs[f] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                undefs[f].add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRCGSVW":
                defs.setdefault(parts[2], f)
    edges = {}
    for f, syms in undefs.items():
        for s in sorted(syms):
            to = defs.get(s)
            if to and to != f:
                edges.setdefault((f, to), []).append(s)
    return edges, stale, undefs


def cycles_in(nodes, succ, limit=50):
    """Elementary cycles among nodes, each once (from its smallest node), shortest first."""
    found = []
    for start in sorted(nodes):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for n in sorted(succ.get(node, ())):
                if n == start:
                    found.append(path + [start])
                elif n in nodes and n > start and n not in path:
                    stack.append((n, path + [n]))
    found.sort(key=lambda c: (len(c), c))
    return found[:limit]


def sccs(nodes, succ):
    """Tarjan: the strongly connected components with more than one file."""
    index, low, on, st, out = {}, {}, set(), [], []
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = len(index)
        st.append(v)
        on.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    args = sys.argv[1:]
    dot = "--dot" in args
    args = [a for a in args if a != "--dot"]
    build = os.path.join(ROOT, args[0] if args else "build")

    files = sources()
    cfiles = [f for f in files if f.endswith(".c")]
    unknown = sorted({layer(f) for f in files} - set(LAYERS))
    check(not unknown, "deps every directory of src/ is a layer",
          [f"src/{d}/ is in no layer" for d in unknown])
    public = sorted("moat/" + n for n in os.listdir(os.path.join(ROOT, "include", "moat")) if n.endswith(".h"))
    check(all(h in PUBLIC for h in public), "deps every public header has a layer",
          [f"include/{h} is in no layer (PUBLIC in tests/deps.py)" for h in public if h not in PUBLIC])
    inc = include_edges(files)
    calls, stale, undefs = call_edges(build, cfiles)
    check(not stale, f"deps an up-to-date object in {os.path.relpath(build, ROOT)}/ for every source file",
          [f"{f}: no object, or older than the source (run make)" for f in stale])

    if dot:
        print("digraph moat {\n  rankdir=BT; node [shape=box, fontsize=10];")
        for lay in LAYERS:
            members = [f for f in files if layer(f) == lay]
            print(f'  subgraph "cluster_{lay}" {{ label="{lay}";')
            for f in members:
                print(f'    "{short(f)}";')
            print("  }")
        for (a, b), syms in sorted(calls.items()):
            print(f'  "{short(a)}" -> "{short(b)}" [tooltip="{" ".join(syms)}"];')
        for (a, b), _ in sorted(inc.items()):
            print(f'  "{short(a)}" -> "{short(b)}" [style=dashed];')
        print("}")
        return 0

    print(f"# deps: {len(files)} files of src/, {len(calls)} call edges (nm of "
          f"{os.path.relpath(build, ROOT)}/src/*/*.o), {len(inc)} #include edges")
    for f in files:
        for (a, b), syms in sorted(calls.items()):
            if a == f:
                more = f" +{len(syms) - 4}" if len(syms) > 4 else ""
                print(f"# {short(a)} calls {short(b)}: {' '.join(syms[:4])}{more}")
        for (a, b) in sorted(inc):
            if a == f:
                print(f"# {short(a)} includes {short(b)}")

    # Layers: nothing upward, nothing sideways between siblings.
    for kind, edges in (("call", calls), ("include", inc)):
        for lay in LAYERS:
            bad = [f"{short(a)} -> {short(b)} ({layer(b)}): "
                   + (" ".join(syms[:6]) if kind == "call" else "#include")
                   for (a, b), syms in sorted(edges.items())
                   if layer(a) == lay and RANK.get(layer(b), -1) > RANK.get(lay, -1)]
            check(not bad, f"deps no upward {kind} from {lay}", bad)
        side = [f"{short(a)} -> {short(b)}" for (a, b) in sorted(edges)
                if (layer(a), layer(b)) in SIBLINGS]
        check(not side, f"deps no {kind} between the siblings client and server", side)
        past = [f"{short(a)} -> {short(b)} ({layer(b)})" for (a, b) in sorted(edges)
                if layer(a) == "cli" and layer(b) not in CLI_REACHES]
        check(not past, f"deps cli {kind}s only server, client, ca, acme and core", past)

    # No I/O below client/ and server/ where the engine lives.
    for lay in ("tls", "crypto"):
        bad = [f"{short(f)}: {' '.join(sorted(s for s in syms if NO_IO.match(s)))}"
               for f, syms in sorted(undefs.items())
               if layer(f) == lay and any(NO_IO.match(s) for s in syms)]
        check(not bad, f"deps no file or socket I/O in {lay}", bad)

    # Libraries called only by the layers allowed to: libnghttp2 (HTTP/2
    # framing, HPACK, flow control) where HTTP/2 is spoken, never below;
    # zlib and libbrotli (the codings of moat get --compressed) in client/ alone.
    for prefix, allowed in LIB_LAYERS.items():
        bad = [f"{short(f)}: {' '.join(sorted(s for s in syms if s.startswith(prefix)))}"
               for f, syms in sorted(undefs.items())
               if layer(f) not in allowed and any(s.startswith(prefix) for s in syms)]
        check(not bad, f"deps {prefix}* called only from {', '.join(sorted(allowed))}", bad)

    # Cycles: files that depend on each other (calls and includes together).
    succ = {}
    for (a, b) in list(calls) + list(inc):
        succ.setdefault(a, set()).add(b)
    nodes = set(files) | {b for (_, b) in inc}
    comps = sccs(nodes, succ)
    for lay in LAYERS:
        mine = [c for c in comps if all(layer(f) == lay and f.startswith("src/") for f in c)]
        if not mine:
            check(True, f"deps no file cycle in src/{lay}")
        for comp in mine:
            for cyc in cycles_in(set(comp), succ):
                check(False, f"deps no file cycle in src/{lay}: "
                      + " -> ".join(os.path.basename(f) for f in cyc),
                      [f"{short(a)} -> {short(b)}: {' '.join((calls.get((a, b)) or ['#include'])[:6])}"
                       for a, b in zip(cyc, cyc[1:])])
    across = [c for c in comps if len({layer(f) for f in c}) > 1 or not all(f.startswith("src/") for f in c)]
    if not across:
        check(True, "deps no file cycle across layers")
    for comp in across:
        for cyc in cycles_in(set(comp), succ):
            check(False, "deps no file cycle across layers: " + " -> ".join(short(f) for f in cyc))

    failed = 0
    for ok, name, detail in results:
        print(("ok - " if ok else "not ok - ") + name)
        if not ok:
            failed += 1
            for d in detail:
                print(f"#   {d}")
    print(f"# deps: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
