#!/usr/bin/env python3
"""Count the lines of Jinja logic in roles/ and playbooks/: lines inside a {% %} block or inside a
{{ }} expression that spans more than one line (issue 15's measure). Prints per-file counts and the total.

    .venv/bin/python bench/jinja_logic_lines.py [--total]
"""
from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"\{%.*?%\}", re.DOTALL)
EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def logic_lines(text: str) -> int:
    lines: set[int] = set()
    for pattern, multi_only in ((BLOCK, False), (EXPRESSION, True)):
        for match in pattern.finditer(text):
            first = text.count("\n", 0, match.start())
            last = first + match.group(0).count("\n")
            if multi_only and first == last:
                continue
            lines.update(range(first, last + 1))
    return len(lines)


def main() -> int:
    counts = {}
    for top in ("roles", "playbooks"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):
                count = logic_lines(path.read_text(encoding="utf-8"))
                if count:
                    counts[str(path.relative_to(ROOT))] = count
    if "--total" not in sys.argv:
        for name, count in sorted(counts.items(), key=lambda item: -item[1]):
            print("%5d  %s" % (count, name))
    print("%5d  total" % sum(counts.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
