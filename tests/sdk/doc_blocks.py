#!/usr/bin/env python3
"""Executes docs/plugins.md's fenced blocks as the SDK test needs them.

usage: doc_blocks.py DOC PREFIX OUT_DIR      (PREFIX "-": write files, check no excerpt)

Every fenced block in DOC must follow a marker comment line:
  <!-- test: file NAME -->     the block is written to OUT_DIR/NAME (recipes,
                               CSV files, shell steps, expected output) for
                               test_sdk.sh to run or compare;
  <!-- test: excerpt PATH -->  the block is copied from PREFIX/PATH (an
                               installed header or template file): each part
                               between lines "..." must be whole, consecutive
                               lines of that file.
A block without a marker, an unknown marker or a file named twice fails, so
no block of the guide goes unchecked. Prints the names written, one a line.
"""
import os
import re
import sys

MARKER = re.compile(r"^<!-- test: (file|excerpt) (\S+) -->$")


def blocks(doc):
    """(marker line number, kind, argument, block line number, lines) per block."""
    lines = open(doc, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start = i
            marker = MARKER.match(lines[i - 1]) if i > 0 else None
            if not marker:
                sys.exit("%s:%d: a fenced block without a <!-- test: file|excerpt ... --> line before it" %
                         (doc, i + 1))
            end = i + 1
            while end < len(lines) and lines[end] != "```":
                end += 1
            if end == len(lines):
                sys.exit("%s:%d: unterminated fenced block" % (doc, i + 1))
            yield i, marker.group(1), marker.group(2), start + 1, lines[start + 1:end]
            i = end + 1
        else:
            if lines[i].startswith("<!-- test:") and not MARKER.match(lines[i]):
                sys.exit("%s:%d: malformed marker %r" % (doc, i + 1, lines[i]))
            i += 1


def check_excerpt(doc, line_no, path, body):
    text = open(path, encoding="utf-8").read().split("\n")
    parts, part, first = [], [], line_no + 1
    for n, line in enumerate(body):
        if line == "...":
            parts.append((first, part))
            part, first = [], line_no + 2 + n
        else:
            part.append(line)
    parts.append((first, part))
    for first, part in parts:
        if not part:
            sys.exit("%s:%d: empty part in an excerpt of %s" % (doc, first, path))
        found = any(text[k:k + len(part)] == part for k in range(len(text) - len(part) + 1))
        if not found:
            # Name the first line that is not in the file, or the first break in order.
            for m, line in enumerate(part):
                if line not in text:
                    sys.exit("%s:%d: not in %s: %r" % (doc, first + m, path, line))
            sys.exit("%s:%d: these %d lines are not consecutive in %s" % (doc, first, len(part), path))


def main():
    doc, prefix, out = sys.argv[1:4]
    written = []
    for _, kind, arg, line_no, body in blocks(doc):
        if kind == "excerpt":
            if prefix != "-":
                check_excerpt(doc, line_no, os.path.join(prefix, arg), body)
        else:
            if arg in written:
                sys.exit("%s:%d: a second block for %s" % (doc, line_no, arg))
            dest = os.path.join(out, arg)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as f:
                f.write("\n".join(body) + "\n")
            written.append(arg)
    print("\n".join(written))


if __name__ == "__main__":
    main()
