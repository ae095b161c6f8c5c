r"""The tutorials' text conversions, without Sphinx (so the tests run them anywhere).

``percent_to_gallery``: a percent-format tutorial -> the source sphinx-gallery reads (its
Markdown cells as reST titles and ``.. markdown::`` blocks, its code unchanged);
``unwrap_markdown``: a downloaded notebook's prose cell back to the Markdown it was written in;
``plain_notebook`` and ``original_zip``: the same for a whole notebook and for the zip of a
tutorial's downloads, whose script becomes the one in ``tutorials/``.
Used by :mod:`mgr_docs`.
"""
import json
import re
import zipfile
from pathlib import Path

CELL = re.compile(r"^# ?%%(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
UNDERLINE = {1: "=", 2: "-", 3: "~", 4: "^", 5: '"', 6: "'"}


def _inline_md_to_rst(text):
    r"""Markdown inline markup that headings use -> reST: `x` -> ``x``, $x$ -> :math:`x`."""
    text = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)
    text = re.sub(r"\$([^$]+)\$", lambda m: r":math:`" + m.group(1) + "`", text)
    return text


def _title(text, level):
    """A reST section title; the underline is long enough for double-width characters."""
    text = _inline_md_to_rst(text)
    return [text, UNDERLINE[level] * (2 * len(text) + 2)]


def markdown_cell_to_rst(lines):
    """The lines of one Markdown cell (comment marks stripped) -> reST lines."""
    out, chunk, in_fence = [], [], False

    def flush():
        while chunk and not chunk[-1].strip():
            chunk.pop()
        while chunk and not chunk[0].strip():
            chunk.pop(0)
        if chunk:
            out.extend([".. markdown::", ""])
            out.extend(("   " + line) if line.strip() else "" for line in chunk)
            out.append("")
        chunk.clear()

    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else HEADING.match(line)
        if heading:
            flush()
            out.extend(_title(heading.group(2), len(heading.group(1))))
            out.append("")
        else:
            chunk.append(line)
    flush()
    return out


def _uncomment(line):
    if line.startswith("# "):
        return line[2:]
    if line.startswith("#"):
        return line[1:]
    raise ValueError(f"line {line!r} in a Markdown cell is not a comment")


def percent_to_gallery(source):
    r"""A percent-format tutorial -> the same script as sphinx-gallery reads it.

    Markdown cells become reST text blocks (the first one the module docstring); every code
    cell is copied verbatim behind a bare ``# %%`` and a blank line, so comment lines that open
    a code cell stay code.
    """
    cells, kind, body = [], "code", []
    for line in source.splitlines():
        match = CELL.match(line)
        if match:
            cells.append((kind, body))
            kind = "markdown" if "[markdown]" in match.group(1) else "code"
            body = []
        else:
            body.append(line)
    cells.append((kind, body))
    cells = [(k, b) for k, b in cells if any(line.strip() for line in b)]
    if not cells or cells[0][0] != "markdown":
        raise ValueError("a tutorial must open with a '# %% [markdown]' cell holding its title")

    out = []
    for i, (kind, body) in enumerate(cells):
        if kind == "markdown":
            while body and not body[-1].strip():
                body.pop()
            rst = markdown_cell_to_rst([_uncomment(line) for line in body])
            if i == 0:
                if '"""' in "\n".join(rst):
                    raise ValueError('a title cell must not contain """')
                out.extend(['r"""'] + rst + ['"""', ""])
            else:
                out.append("# %%")
                out.extend(("# " + line).rstrip() for line in rst)
                out.append("")
        else:
            out.append("# %%")
            out.append("")
            out.extend(body)
    return "\n".join(out).rstrip() + "\n"


def unwrap_markdown(text):
    """A notebook cell's text without the ``.. markdown::`` wrapping of
    :func:`markdown_cell_to_rst`: the directive line dropped, its block dedented."""
    out, inside = [], False
    for line in text.split("\n"):
        if line.strip() == ".. markdown::":
            inside = True
            continue
        if inside and line.startswith("   "):
            line = line[3:]
        elif inside and line.strip():
            inside = False
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n") + "\n"


def plain_notebook(text):
    """A notebook's JSON with its prose cells as plain Markdown (no ``.. markdown::``)."""
    data = json.loads(text)
    for cell in data.get("cells", []):
        if cell.get("cell_type") == "markdown":
            cell["source"] = unwrap_markdown("".join(cell["source"])).splitlines(keepends=True)
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def original_zip(archive, tutorials):
    """Rewrite a tutorial's zip in place: each ``NN_*.py`` member becomes the script in
    ``tutorials`` of that name, each ``.ipynb`` member loses its ``.. markdown::`` wrapping;
    other members, names and order are kept."""
    with zipfile.ZipFile(archive) as old:
        members = [(info, old.read(info)) for info in old.infolist()]
    tmp = archive.with_name(archive.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in members:
            name = Path(info.filename).name
            if name.endswith(".py") and (tutorials / name).exists():
                data = (tutorials / name).read_bytes()
            elif name.endswith(".ipynb"):
                data = plain_notebook(data.decode("utf-8")).encode("utf-8")
            new.writestr(info, data)
    tmp.replace(archive)
