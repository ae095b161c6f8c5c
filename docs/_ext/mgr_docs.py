r"""Sphinx glue for the minigraphrec site, kept out of ``conf.py`` so each piece can be read alone.

1. ``tutorial_sources``: the tutorials are percent-format scripts whose ``# %% [markdown]`` cells
   hold Markdown with ``$…$`` formulas, while sphinx-gallery reads reStructuredText. Before
   sphinx-gallery runs, each ``tutorials/NN_*.py`` is copied into ``docs/_build/tutorial_sources/``
   with only its Markdown cells rewritten: the first becomes the module docstring sphinx-gallery
   takes the title from, headings become reST section titles, and the prose between them is
   wrapped in a ``.. markdown::`` directive that MyST parses. Code cells are copied unchanged,
   so the copy runs exactly as the original does with plain ``python``.
2. ``markdown`` directive: parses its content with myst-parser (``dollarmath`` for formulas).
3. ``saved_figure_scraper``: the tutorials write PNGs through ``minigraphrec.plot.save_figure``,
   which closes the figure, so matplotlib's scraper sees nothing; this scraper picks up each PNG
   that appeared in ``$MINIGRAPHREC_FIGURES`` during a code block and shows it under the block.
4. ``benchmark_pages``: one page per ``benchmarks/results/*.md``.
5. ``check_api_complete``: warns (an error under ``-W``) when a public name has no API page.
"""
import importlib
import os
import re
import shutil
from pathlib import Path

from docutils.utils import new_document
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

CELL = re.compile(r"^# ?%%(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
UNDERLINE = {1: "=", 2: "-", 3: "~", 4: "^", 5: '"', 6: "'"}


# ---------------------------------------------------------------- 1. tutorial sources
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


def write_tutorial_sources(app):
    """Convert every ``tutorials/NN_*.py`` into ``app.config.mgr_tutorial_sources``."""
    src = Path(app.config.mgr_tutorials_dir)
    dst = Path(app.config.mgr_tutorial_sources)
    dst.mkdir(parents=True, exist_ok=True)
    header = Path(app.srcdir) / "tutorials_header.rst"
    shutil.copyfile(header, dst / "GALLERY_HEADER.rst")
    wanted = set()
    for path in sorted(src.glob("[0-9][0-9]_*.py")):
        text = percent_to_gallery(path.read_text(encoding="utf-8"))
        target = dst / path.name
        wanted.add(target.name)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")     # unchanged files keep their mtime
    for stale in dst.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()


# ---------------------------------------------------------------- 2. markdown directive
class MarkdownDirective(SphinxDirective):
    """Parse the directive's content as MyST Markdown (used for the tutorials' prose)."""

    has_content = True

    def run(self):
        from myst_parser.parsers.sphinx_ import MystParser
        source, line = self.get_source_info()
        sub = new_document(source, self.state.document.settings)
        sub.reporter = self.state.document.reporter
        MystParser().parse("\n".join(self.content), sub)
        return list(sub.children)


# ---------------------------------------------------------------- 3. figure scraper
class SavedFigureScraper:
    """Show the PNGs a code block wrote into ``$MINIGRAPHREC_FIGURES``, in the order written."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.seen = {}

    def __repr__(self):             # sphinx-gallery hashes the config by repr
        return f"SavedFigureScraper({str(self.folder)!r})"

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import figure_rst
        new = []
        for png in self.folder.glob("*.png"):
            stamp = png.stat().st_mtime_ns
            if self.seen.get(png.name) != stamp:
                self.seen[png.name] = stamp
                new.append((stamp, png))
        paths = []
        for _, png in sorted(new):
            target = Path(next(block_vars["image_path_iterator"]))
            shutil.copyfile(png, target)
            paths.append(str(target))
        return figure_rst(paths, gallery_conf["src_dir"])


# ---------------------------------------------------------------- 4. benchmark pages
def write_benchmark_pages(app):
    """``docs/benchmarks/generated/<name>.md``, each including one result file."""
    results = Path(app.config.mgr_benchmark_results)
    out = Path(app.srcdir) / "benchmarks" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for md in sorted(results.glob("*.md")):
        rel = os.path.relpath(md, out)
        text = f"```{{include}} {rel}\n```\n"
        page = out / md.name
        wanted.add(page.name)
        if not page.exists() or page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
    for stale in out.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()


# ---------------------------------------------------------------- 5. API completeness
def _public_names(module_name):
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if isinstance(obj, type(module)):
            continue
        yield f"{module_name}.{name}", obj


def check_api_complete(app, env):
    """Every name in the ``__all__`` of a documented module must have an API entry."""
    documented = set(env.domains["py"].objects)
    documented_objects = set()
    for full in documented:
        module, _, attr = full.rpartition(".")
        try:
            documented_objects.add(id(getattr(importlib.import_module(module), attr)))
        except (ImportError, AttributeError):
            pass
    for module_name in app.config.mgr_api_modules:
        for full, obj in _public_names(module_name):
            if full in documented:
                continue
            if not isinstance(obj, (int, float, str, bytes, tuple, frozenset)) \
                    and id(obj) in documented_objects:
                continue
            logger.warning(f"public name {full} has no API page: add it to docs/api.rst",
                           type="mgr", subtype="api")


def setup(app):
    app.add_config_value("mgr_tutorials_dir", "", "env")
    app.add_config_value("mgr_tutorial_sources", "", "env")
    app.add_config_value("mgr_benchmark_results", "", "env")
    app.add_config_value("mgr_api_modules", [], "env")
    app.add_directive("markdown", MarkdownDirective)
    # before sphinx-gallery's own builder-inited handler (priority 500)
    app.connect("builder-inited", write_tutorial_sources, priority=400)
    app.connect("builder-inited", write_benchmark_pages, priority=400)
    app.connect("env-check-consistency", check_api_complete)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
