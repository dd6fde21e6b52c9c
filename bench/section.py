#!/usr/bin/env python3
"""Replaces one benchmark's section of docs/benchmarks.md with stdin, keeping the others.
Usage: python3 bench/section.py NAME < section.md"""
import pathlib
import re
import sys

name = sys.argv[1]
path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
text = path.read_text() if path.exists() else "# Benchmarks\n\nEach section is written by the script it names; run it again to refresh it.\n"
body = sys.stdin.read().strip()
block = f"<!-- {name}:begin -->\n{body}\n<!-- {name}:end -->"
pattern = re.compile(rf"<!-- {re.escape(name)}:begin -->.*?<!-- {re.escape(name)}:end -->", re.S)
text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
path.write_text(text)
