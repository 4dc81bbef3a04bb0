#!/usr/bin/env python3
"""Checks the architecture the README's layout table describes; fails (exit 1) on any violation.

1. Crates: every workspace crate depends only on the crates below it in the stack (from `cargo metadata`).
2. Pure crates: concord-protocol and concord-quality reach no provider, RPC transport, SQLite, web server, CLI
   parser, progress bars or async runtime, directly or through any dependency.
3. Modules: inside every crate, no module imports itself back through others (the `crate::`/`super::` import
   graph between module files is acyclic). Prints each crate's modules from the bottom layer up.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What each workspace crate may depend on (workspace crates only). Lower layers first.
ALLOWED = {
    "concord-bindings": set(),
    "concord-protocol": set(),
    "concord-quality": {"concord-protocol"},
    "concord-client": {"concord-bindings", "concord-protocol", "concord-quality"},
    "concord-cli": {"concord-client", "concord-quality"},
    "concord-web": {"concord-client", "concord-quality"},
    "concord-testkit": {"concord-client"},
    "concord-requester": {"concord-cli", "concord-client", "concord-web"},
    "concord-annotator": {"concord-cli", "concord-client", "concord-web"},
    "concord-devnet": {"concord-cli", "concord-client", "concord-testkit"},
    "concord-sim": {"concord-cli", "concord-client", "concord-testkit"},
    # The gas benchmark serves the requester's reveal intake (concord-web's publication router) in-process.
    "concord-bench": {"concord-cli", "concord-client", "concord-testkit", "concord-web"},
    # The e2e tests also drive the v2 contract directly (bindings) and check the Rust twins (protocol) against it.
    "concord-e2e": {"concord-bindings", "concord-protocol", "concord-client", "concord-testkit"},
}
PURE = ["concord-protocol", "concord-quality"]
HEAVY = [
    "alloy-provider", "alloy-contract", "alloy-transport-http", "reqwest", "hyper", "rusqlite",
    "libsqlite3-sys", "axum", "clap", "indicatif", "tracing-subscriber", "tokio",
]


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def check_crates(meta, errors):
    members = {p["id"]: p for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    names = {p["name"] for p in members.values()}
    unknown = names - set(ALLOWED)
    if unknown:
        errors.append(f"crates not placed in the stack (add them to ALLOWED): {sorted(unknown)}")
    for p in members.values():
        deps = {d["name"] for d in p["dependencies"] if d["name"] in names and d["kind"] in (None, "build")}
        extra = deps - ALLOWED.get(p["name"], set())
        if extra:
            errors.append(f"{p['name']} depends on {sorted(extra)}, above or beside it in the stack")
    # Transitive normal dependencies of the pure crates.
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    by_id = {p["id"]: p["name"] for p in meta["packages"]}
    for pure in PURE:
        start = next(i for i, p in members.items() if p["name"] == pure)
        seen, stack = set(), [start]
        while stack:
            cur = stack.pop()
            for d in nodes[cur]["deps"]:
                if any(k["kind"] is None for k in d["dep_kinds"]) and d["pkg"] not in seen:
                    seen.add(d["pkg"])
                    stack.append(d["pkg"])
        bad = sorted({by_id[i] for i in seen} & set(HEAVY))
        if bad:
            errors.append(f"pure crate {pure} reaches {bad}")


USE_CRATE = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*|\{[^}]*\})")
USE_SUPER = re.compile(r"\bsuper::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*|\{[^}]*\})")


def modules_of(src: Path):
    """Module path (tuple) -> file, for every .rs file under src."""
    mods = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            parts = []
        mods[tuple(parts)] = f
    return mods


def resolve(mods, path):
    """Longest module prefix of `path` that is a module file (an item inside it resolves to the module)."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return ()


def expand(group):
    """`{a, b::c, d::{e, f}}` -> ['a', 'b::c', 'd'] (the first segments are enough to find the module)."""
    if not group.startswith("{"):
        return [group]
    inner, depth, cur, out = group[1:-1], 0, "", []
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return [re.split(r"::\{", o)[0] for o in out if o and o != "self"]


def strip_tests(text):
    """Drops comments (doc links are not imports) and the `#[cfg(test)] mod tests { ... }` block at the end:
    test code may reach anywhere in its crate."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    text = text[: m.start()] if m else text
    return "\n".join(line.split("//")[0] for line in text.split("\n"))


def check_modules(crate_dir: Path, errors, report):
    src = crate_dir / "src"
    mods = modules_of(src)
    graph = {m: set() for m in mods}
    reexports = {}
    root = mods.get(())
    if root is not None:
        for module, names in re.findall(r"pub use (\w+)::\{?([\w, ]+)\}?;", root.read_text()):
            for n in names.split(","):
                if (module,) in mods:
                    reexports[n.strip()] = (module,)
    for m, f in mods.items():
        text = strip_tests(f.read_text())
        for rx, base in ((USE_CRATE, ()), (USE_SUPER, m[:-1])):
            for g in rx.findall(text):
                for p in expand(g):
                    target = resolve(mods, list(base) + p.split("::"))
                    if not target:
                        # An item the crate root re-exports (`pub use batch::BatchQuality;`).
                        target = reexports.get(p.split("::")[0], ())
                    if target and target != m:
                        graph[m].add(target)
                        # `use crate::cmd;` then `cmd::claim::X`: the module reached is `cmd::claim`.
                        alias = p.split("::")[-1]
                        if target == tuple(list(base) + p.split("::")):
                            for sub in re.findall(r"\b" + alias + r"::([a-z_][a-z0-9_]*)", text):
                                deeper = resolve(mods, list(target) + [sub])
                                if deeper and deeper != m:
                                    graph[m].add(deeper)
    # Cycle detection (Tarjan), ignoring the crate root, which declares every module.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w == ():
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v != () and v not in index:
            visit(v)
    name = crate_dir.name
    for comp in sccs:
        if len(comp) > 1:
            errors.append(f"{name}: modules import each other: {sorted('::'.join(c) for c in comp)}")
    # Layers: a module's layer is one above the highest module it imports.
    layer = {}

    def depth(v, trail=()):
        if v in layer:
            return layer[v]
        if v in trail:
            return 0
        layer[v] = 0 if not graph[v] else 1 + max(depth(w, trail + (v,)) for w in graph[v] if w != ())
        return layer[v]

    for v in graph:
        if v != ():
            depth(v)
    levels = {}
    for v, d in layer.items():
        if v != ():
            levels.setdefault(d, []).append("::".join(v))
    report.append(f"{name}: " + " | ".join(", ".join(sorted(levels[d])) for d in sorted(levels)))


def main():
    errors, report = [], []
    check_crates(metadata(), errors)
    for d in sorted(list((ROOT / "crates").iterdir()) + list((ROOT / "bin").iterdir()) + [ROOT / "tests"]):
        if (d / "src").is_dir():
            check_modules(d, errors, report)
    print("module layers, bottom first (`|` separates layers):")
    for r in report:
        print("  " + r)
    if errors:
        print("\narchitecture check failed:", file=sys.stderr)
        for e in errors:
            print("  - " + e, file=sys.stderr)
        sys.exit(1)
    print(f"architecture ok: {len(ALLOWED)} crates in their layers, pure crates free of {', '.join(HEAVY)}, "
          "no module cycle")


if __name__ == "__main__":
    main()
