#!/usr/bin/env python3
"""Fail when the modules of a crate import each other in a circle, or a function is
longer than the house limit.

    scripts/check_structure.py [crate_dir ...]     (default: every crates/*/)

Two checks, on every `src/**/*.rs` of each crate:

1. Import cycles (below).
2. Function length: no `fn` body (signature to closing brace, comments and strings
   included) over MAX_FN_LINES lines; each one over is listed with its file and line.

For each crate it reads every `src/**/*.rs`, strips comments and string literals,
and collects the module paths the code names: `use crate::a::b`, `use super::x`,
grouped imports (`use crate::{a, b::{c, d}}`) and paths written inline
(`crate::a::f()`, `super::b::T`). A path resolves to the deepest module of the crate
that it names (`crate::config::routes::Rule` -> `config::routes`).

An edge from module A to module B is lifted to the two children of their closest
common ancestor, so `chat::plan -> dispatch::attempt` counts as `chat -> dispatch`
at the crate root. An edge between a module and its own ancestor or descendant
(a child using its parent's types, a parent calling its children) is not a cycle
and is skipped; so are edges to the crate root (re-exports). At every level the
sibling graph must be acyclic: a stage may know the stages below it, never above.

Binary targets under src/bin/ are separate crates and are checked on their own.
Exit status 1 lists each function too long, and each cycle found, as a chain of modules with one file and line
per edge, so the import to move is easy to find.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(src: str) -> str:
    """Blank out comments, strings and char literals, keeping line numbers."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * src.count("\n", i, j))
            i = j
            continue
        m = re.match(r'b?r(#*)"', src[i:i + 260])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
            continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", src[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, 0
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, body = tree[:brace], tree[brace + 1:tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:k])
            start = k + 1
    parts.append(body[start:])
    return [p for part in parts if part for p in expand(prefix + part)]


def module_of(src_dir: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src_dir).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def resolve(path: list[str], here: tuple[str, ...], modules: set) -> tuple[str, ...] | None:
    """Deepest module named by `path` (which starts with crate/super/self)."""
    head, rest = path[0], path[1:]
    if head == "crate":
        base: tuple[str, ...] = ()
    elif head in ("super", "self"):
        base = here
        while path and path[0] in ("super", "self"):
            if path[0] == "super":
                base = base[:-1]
            path = path[1:]
        rest = path
    else:
        return None
    best = base
    cur = base
    for seg in rest:
        cur = cur + (seg,)
        if cur in modules:
            best = cur
        else:
            break
    return best


def crate_edges(src_dir: Path, files: list[Path]):
    modules = {module_of(src_dir, f) for f in files}
    # inline `mod x { ... }` blocks are part of their file's module for this check
    edges = defaultdict(list)  # (a, b) -> [(file, line)]
    for f in files:
        here = module_of(src_dir, f)
        text = strip(f.read_text())
        paths: list[tuple[int, list[str]]] = []
        for m in re.finditer(r"\buse\s+([^;]*);", text):
            line = text.count("\n", 0, m.start()) + 1
            for p in expand(m.group(1)):
                p = re.sub(r"\bas\s*" + IDENT + "$", "", p.replace(" as ", " as"))
                segs = [s for s in p.split("::") if s and s != "*"]
                if segs and segs[0] in ("crate", "super", "self"):
                    paths.append((line, segs))
        for m in re.finditer(r"(?<![:\w])((?:crate|super)(?:::" + IDENT + ")+)", text):
            line = text.count("\n", 0, m.start()) + 1
            paths.append((line, m.group(1).split("::")))
        for line, segs in paths:
            target = resolve(segs, here, modules)
            if target is None or target == here or target == ():
                continue
            edges[(here, target)].append((f, line))
    return modules, edges


def lift(a: tuple, b: tuple):
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    if k == len(a) or k == len(b):
        return None  # ancestor / descendant
    return a[:k], a[k], b[k]


def cycles(edges) -> list[list]:
    graph = defaultdict(lambda: defaultdict(list))  # parent -> {(x, y): [where]}
    for (a, b), where in edges.items():
        lifted = lift(a, b)
        if lifted:
            parent, x, y = lifted
            graph[parent][(x, y)].extend((a, b, f, line) for f, line in where)
    found = []
    for parent, pairs in graph.items():
        adj = defaultdict(set)
        for x, y in pairs:
            adj[x].add(y)
        for comp in sccs(adj):
            if len(comp) > 1:
                found.append((parent, sorted(comp), pairs))
    return found


def sccs(adj):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    nodes = set(adj) | {y for ys in adj.values() for y in ys}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj.get(v, ())):
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def shown(path: Path, root: Path) -> Path:
    """`path` relative to the repository when it is inside it."""
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def check(crate: Path, root: Path) -> int:
    src = crate / "src"
    if not src.is_dir():
        return 0
    all_files = sorted(src.rglob("*.rs"))
    groups = [[f for f in all_files if "bin" not in f.relative_to(src).parts[:1]]]
    bins = src / "bin"
    if bins.is_dir():
        for entry in sorted(bins.iterdir()):
            if entry.suffix == ".rs":
                groups.append([entry] + [f for f in all_files if f.parent == bins / "shared"])
    bad = 0
    for files in groups:
        if not files:
            continue
        # A binary's own file is its root; the helper folders beside it are its modules.
        base = bins if files[0].parent == bins else src
        _, edges = crate_edges(base, files)
        for parent, comp, pairs in cycles(edges):
            bad += 1
            where = "::".join(parent) or "crate root"
            print(f"{shown(crate, root)}: import cycle under {where}: {' <-> '.join(comp)}")
            for (x, y), uses in sorted(pairs.items()):
                if x in comp and y in comp:
                    a, b, f, line = uses[0]
                    more = f" (+{len(uses) - 1} more)" if len(uses) > 1 else ""
                    print(f"    {x} -> {y}: {shown(f, root)}:{line}{more}")
    return bad


MAX_FN_LINES = 120
FN_RE = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))? )?(?:const )?(?:async )?fn (\w+)", re.M)


def long_functions(crate: Path, root: Path) -> int:
    """Print every function of `crate` longer than MAX_FN_LINES; how many there are."""
    bad = 0
    for f in sorted((crate / "src").rglob("*.rs")):
        text = strip(f.read_text())
        for m in FN_RE.finditer(text):
            brace, semi = text.find("{", m.end()), text.find(";", m.end())
            if brace < 0 or 0 <= semi < brace:
                continue  # a declaration without a body (trait method)
            depth, end = 0, brace
            while end < len(text):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                if depth == 0:
                    break
                end += 1
            lines = text.count("\n", m.start(), end) + 1
            if lines > MAX_FN_LINES:
                bad += 1
                line = text.count("\n", 0, m.start()) + 1
                print(f"{shown(f, root)}:{line}: fn {m.group(1)} is {lines} lines "
                      f"(at most {MAX_FN_LINES}): split it into named steps")
    return bad


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    crates = [Path(a).resolve() for a in sys.argv[1:]] or sorted(p for p in (root / "crates").iterdir() if p.is_dir())
    cycles = sum(check(c, root) for c in crates)
    long = sum(long_functions(c, root) for c in crates)
    if cycles:
        print(f"check_structure: {cycles} import cycle(s); move the shared item down to a module both can import")
    if long:
        print(f"check_structure: {long} function(s) over {MAX_FN_LINES} lines")
    if cycles or long:
        return 1
    print(f"check_structure: no import cycles and no function over {MAX_FN_LINES} lines in {len(crates)} crate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
