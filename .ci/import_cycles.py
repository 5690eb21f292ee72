#!/usr/bin/env python3
"""Fails when two or more files of one crate import each other, directly or around a loop.

An edge runs from a file to the file a `use crate::...`, `use super::...` or `use self::...`
path names (what a file takes from another one). A parent module declaring and re-exporting
its children (`mod x; pub use x::Y;`) is structure, not an import, and is not an edge.
Test modules (after `#[cfg(test)]`) are left out.
"""
import os
import re
import sys


def module_of(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def targets(module, modules, statement):
    statement = re.sub(r"\s+", "", statement)
    group = re.match(r"^(.*?)::\{(.*)\}$", statement)
    paths = [statement]
    if group:
        paths = [group.group(1) + "::" + p for p in re.split(r",(?![^{]*\})", group.group(2)) if p]
    for path in paths:
        segments = path.split("::")
        current = {"crate": (), "super": module[:-1], "self": module}[segments[0]]
        for segment in segments[1:]:
            if segment == "super":
                current = current[:-1]
                continue
            segment = segment.split("{")[0]
            if current + (segment,) not in modules:
                break
            current = current + (segment,)
        if current != module and current in modules:
            yield current


def cycles(nodes, edges):
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def main(root):
    failed = False
    for crate in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "src"))):
        src = os.path.join(root, crate, "src")
        files = [os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs if f.endswith(".rs")]
        modules = {}
        for path in files:
            if path.endswith("main.rs") and os.path.exists(os.path.join(src, "lib.rs")):
                continue
            modules[module_of(src, path)] = path
        edges = {m: set() for m in modules}
        for module, path in modules.items():
            with open(path, encoding="utf-8") as f:
                text = f.read().split("#[cfg(test)]")[0]
            for statement in re.findall(r"\buse\s+((?:crate|super|self)::[^;]*);", text, re.S):
                edges[module].update(targets(module, modules, statement))
        for component in cycles(list(modules), edges):
            failed = True
            names = sorted(modules[m].removeprefix(root + os.sep) for m in component)
            print(f"import cycle in {crate}: {' <-> '.join(names)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
