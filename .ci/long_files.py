#!/usr/bin/env python3
"""Fails on a Rust source file of more than 500 lines anywhere in the workspace's crates:
past that, a file holds more than one idea (docs/STYLE: small files, one idea each)."""
import os
import sys

LIMIT = 500
SKIP = {"target", ".local", ".git", "node_modules"}


def long_files(root):
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in SKIP]
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    lines = sum(1 for _ in f)
                if lines > LIMIT:
                    found.append((os.path.relpath(path, root), lines))
    return sorted(found)


def main(root):
    found = long_files(root)
    for path, lines in found:
        print(f"{path}: {lines} lines, over the {LIMIT} a source file may have")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
