#!/usr/bin/env python3
"""Fails when two or more files of one crate import each other, directly or around a loop.

An edge runs from a file to the file that defines what it names, however it names it:
- `use` statements of any form (`use crate::a::B`, `pub(crate) use super::b::{C, d::E}`,
  `use child::F` for a child module declared in the file);
- paths written inline in code (`crate::dev::prepare(..)`, `super::b::C::new()`);
- through re-exports: a name a module re-exports (`pub use b::C;` in `a/mod.rs`) leads to
  the file that defines it, not to the re-exporting `mod.rs`;
- in test modules too (inline `mod tests { use super::*; }` included).
Structure is not an import: a parent declaring its children (`mod x;`), and a child
reaching its own parent file with `super::` (its parent's items, `use super::*`).
Cycles listed in `import_cycles.allow` (one per line: the files, space-separated) are
accepted: the GraphQL object graph is a graph by nature.

Its own tests, on small crates with each kind of cycle: `python3 -m unittest discover -s .ci`.
"""
import os
import re
import sys

ALLOW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "import_cycles.allow")
ROOTS = {"crate", "super", "self"}


def module_of(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip(text):
    """The code without comments, strings and character literals (kept as blanks)."""
    pattern = re.compile(
        r'//[^\n]*|/\*.*?\*/|r#*"(?:.|\n)*?"#*|b?"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'',
        re.S,
    )
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def scopes(code, module):
    """(start, end, module path) of the file and each inline `mod name { ... }` in it."""
    found = [(0, len(code), module)]
    stack = []
    depth = 0
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{|[{}]", code):
        token = m.group(0)
        if token.startswith("mod"):
            stack.append((depth, m.start(), m.group(1)))
            depth += 1
            continue
        if token == "{":
            depth += 1
        else:
            depth -= 1
            if stack and stack[-1][0] == depth:
                _, start, name = stack.pop()
                outer = module + tuple(s[2] for s in stack)
                found.append((start, m.end(), outer + (name,)))
    return found


def scope_at(found, position):
    inner = [s for s in found if s[0] <= position < s[1]]
    return max(inner, key=lambda s: len(s[2]))[2]


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}
        for root, _, names in os.walk(src):
            for name in names:
                path = os.path.join(root, name)
                if not name.endswith(".rs"):
                    continue
                if name == "main.rs" and root == src and os.path.exists(os.path.join(src, "lib.rs")):
                    continue
                if os.path.basename(root) == "bin" and root == os.path.join(src, "bin"):
                    continue
                self.files[module_of(src, path)] = path
        self.code = {}
        for module, path in self.files.items():
            with open(path, encoding="utf-8") as f:
                self.code[module] = strip(f.read())
        self.reexports = {m: self._reexports(m) for m in self.files}

    def children(self, module):
        return {m[-1] for m in self.files if len(m) == len(module) + 1 and m[:-1] == module}

    def _reexports(self, module):
        """Name -> the path (as written) a module re-exports it from."""
        found = {}
        for statement in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", self.code[module]):
            for path in expand(statement):
                last = path[-1]
                alias = re.match(r"(\w+)\s+as\s+(\w+)$", last)
                if alias:
                    found[alias.group(2)] = path[:-1] + [alias.group(1)]
                elif last not in ("*", "self"):
                    found[last] = path
        return found

    def resolve(self, module, path, seen=None):
        """The file module that defines what `path` (segments) names, seen from `module`."""
        seen = seen or set()
        head = path[0]
        if head == "crate":
            current, rest = (), path[1:]
        elif head == "self":
            current, rest = module, path[1:]
        elif head == "super":
            current, rest = module[:-1], path[1:]
        elif head in self.children(module):
            current, rest = module, path
        else:
            return None
        while rest and rest[0] == "super":
            current, rest = current[:-1], rest[1:]
        # The innermost file module along the path (inline modules belong to their file).
        file_module = max((m for m in self.files if current[: len(m)] == m), key=len, default=())
        current = file_module if current[: len(file_module)] == file_module else current
        for i, segment in enumerate(rest):
            if current + (segment,) in self.files:
                current = current + (segment,)
                continue
            target = self.reexports.get(current, {}).get(segment)
            if target and (current, segment) not in seen:
                seen.add((current, segment))
                return self.resolve(current, target + rest[i + 1:], seen) or current
            return current
        return current

    def edges(self):
        edges = {m: set() for m in self.files}
        for module, code in self.code.items():
            found = scopes(code, module)
            references = []
            for m in re.finditer(r"\buse\s+([^;]+);", code):
                for path in expand(m.group(1)):
                    references.append((m.start(), path))
            for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*\w+)+)", code):
                references.append((m.start(), re.sub(r"\s+", "", m.group(1)).split("::")))
            for position, path in references:
                scope = scope_at(found, position)
                path = [re.sub(r"\s+as\s+\w+$", "", p) for p in path]
                if path and path[-1] in ("*", "self"):
                    path = path[:-1]
                if not path or (path[0] not in ROOTS and path[0] not in self.children(scope)):
                    continue
                target = self.resolve(scope, path)
                if target is None or target == module or target not in self.files:
                    continue
                if target == module[:-1] and path[0] == "super":
                    continue  # a child reaching its own parent: structure
                edges[module].add(target)
        return edges


def expand(statement):
    """`a::{b, c::{d, e}}` -> [[a, b], [a, c, d], [a, c, e]]."""
    statement = re.sub(r"\s+", " ", statement).strip()
    statement = re.sub(r"\s*::\s*", "::", statement)
    group = re.match(r"^(.*?)::\{(.*)\}$", statement)
    if not group:
        return [statement.split("::")] if statement else []
    head = group.group(1).split("::")
    paths = []
    depth, part = 0, ""
    for char in group.group(2) + ",":
        if char == "," and depth == 0:
            if part.strip():
                paths.extend(head + tail for tail in expand(part.strip()))
            part = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        part += char
    return paths


def cycles(nodes, edges):
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def allowed():
    if not os.path.exists(ALLOW):
        return []
    with open(ALLOW, encoding="utf-8") as f:
        return [set(line.split()) for line in f if line.strip() and not line.startswith("#")]


def find(root, allow):
    """Every cycle not allowed, as sorted lists of paths relative to `root`."""
    found = []
    for crate in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "src"))):
        model = Crate(os.path.join(root, crate, "src"))
        edges = model.edges()
        for component in cycles(list(model.files), edges):
            names = sorted(os.path.relpath(model.files[m], root) for m in component)
            if set(names) not in allow:
                found.append((crate, names))
    return found


def main(root):
    found = find(root, allowed())
    for crate, names in found:
        print(f"import cycle in {crate}: {' <-> '.join(names)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
