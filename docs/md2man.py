#!/usr/bin/python3
"""Turns docs/glarex.1.md into the glarex(1) man page, so the manual has one source.

Usage: md2man.py INPUT.md OUTPUT.1 VERSION

Handles the Markdown the manual uses: '# name(section)', '##' and '###' headings,
paragraphs, fenced code blocks, numbered lists, pipe tables (each row becomes a tagged
paragraph: the first cell is the tag), **bold**, `code` and [links](target). Anything else
is an error naming the line, so the page cannot silently lose text.
"""
import re
import sys


class Md2ManError(Exception):
    pass


def escape(text):
    """Escapes roff's special characters in running text."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return text


def inline(text):
    """Converts inline Markdown of one line of running text to roff."""
    out = []
    pos = 0
    pattern = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)]+)\)")
    for m in pattern.finditer(text):
        out.append(escape(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append("\\fB" + escape(m.group(1)) + "\\fR")
        elif m.group(2) is not None:
            out.append("\\fB" + inline(m.group(2)) + "\\fR")
        else:
            label, target = m.group(3), m.group(4)
            out.append(inline(label))
            if not target.endswith(".md") or label.strip("`") != target:
                out.append(" (" + escape(target) + ")")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def line_out(text):
    """A line of text, made safe when it would start with a control character."""
    if text.startswith((".", "'")):
        return "\\&" + text
    return text


def split_row(row):
    """Splits a pipe-table row into cells; '\\|' is a literal bar."""
    cells = re.split(r"(?<!\\)\|", row.strip()[1:-1])
    return [c.strip().replace("\\|", "|") for c in cells]


def convert(lines, version):
    out = []
    title = None
    i = 0
    para = []

    def flush():
        if para:
            if not out[-1].startswith((".SH", ".SS")):
                out.append(".PP")
            out.extend(line_out(inline(p)) for p in para)
            para.clear()

    while i < len(lines):
        raw = lines[i].rstrip("\n")
        n = i + 1
        if raw.startswith("# "):
            m = re.fullmatch(r"# ([a-z0-9_-]+)\((\d)\)", raw)
            if not m or title:
                raise Md2ManError("line %d: expected one '# name(section)' title" % n)
            title = m.groups()
            out.append('.TH %s %s "" "glarex %s" "glarex manual"'
                       % (title[0].upper(), title[1], version))
        elif raw.startswith("## "):
            flush()
            out.append(".SH " + inline(raw[3:].strip()))
        elif raw.startswith("### "):
            flush()
            out.append(".SS " + inline(raw[4:].strip()))
        elif raw.startswith("```"):
            flush()
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            if end == len(lines):
                raise Md2ManError("line %d: code block never closed" % n)
            out.extend([".PP", ".RS 4", ".nf"])
            out.extend(line_out(escape(l.rstrip("\n"))) for l in lines[i + 1:end])
            out.extend([".fi", ".RE"])
            i = end
        elif raw.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            if len(rows) < 2 or not all(re.fullmatch(r":?-+:?", c) for c in rows[1]):
                raise Md2ManError("line %d: a table needs a header and a --- row" % n)
            for cells in rows[2:]:
                if len(cells) != len(rows[0]):
                    raise Md2ManError("line %d: a table row has %d cells, the header %d"
                                      % (n, len(cells), len(rows[0])))
                out.append(".TP")
                out.append(line_out(inline(cells[0])))
                body = [inline(c) for c in cells[1:] if c]
                if len(rows[0]) > 2:  # name the later columns, as the header does
                    body = [inline(rows[0][k + 1]) + ": " + b for k, b in enumerate(body)]
                out.append(line_out(body[0] if body else ""))
                for b in body[1:]:
                    out.extend([".br", line_out(b)])
            continue
        elif re.match(r"\d+\. ", raw):
            flush()
            num, text = raw.split(" ", 1)
            item = [text]
            while i + 1 < len(lines) and lines[i + 1].startswith("   ") and lines[i + 1].strip():
                i += 1
                item.append(lines[i].strip())
            out.append('.IP "%s" 4' % num)
            out.extend(line_out(inline(t)) for t in item)
        elif re.match(r"\s*[-*+] |>", raw):
            raise Md2ManError("line %d: bullet lists and quotes are not supported" % n)
        elif not raw.strip():
            flush()
        else:
            para.append(raw.strip())
        i += 1
    flush()
    if not title:
        raise Md2ManError("no '# name(section)' title")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 4:
        print("usage: md2man.py INPUT.md OUTPUT.1 VERSION", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        lines = f.readlines()
    try:
        page = convert(lines, argv[3])
    except Md2ManError as e:
        print("md2man: %s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
