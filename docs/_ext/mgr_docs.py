r"""Sphinx glue for the minigraphrec site, kept out of ``conf.py`` so each piece can be read alone.

1. ``tutorial_sources`` (the conversion itself is in ``tutorial_text.py``, which needs no
   Sphinx): the tutorials are percent-format scripts whose ``# %% [markdown]`` cells
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
4. ``benchmark_pages``: one page per ``benchmarks/results/*.md``, with the PNGs drawn from the
   same results and the question its script answers; ``mgr-benchmark-list`` lists them and
   ``mgr-benchmark-table`` shows ``benchmarks/README.md``'s table (headline, target, met).
5. ``check_api_complete``: warns (an error under ``-W``) when a public name has no API page.
6. ``constant_doc_comments``: a module-level constant's page shows its ``#:`` comment, also when
   the constant is defined in a private submodule and re-exported (``datasets.ML100K_URL`` lives
   in ``datasets/download.py``), where autodoc does not look; a constant with no comment
   anywhere gets a warning instead of the built-in ``str``/``int``/``tuple`` docstring.
7. ``plain_text_emails``: docutils turns ``Recall@20`` into a ``mailto:`` link; a reference
   whose text is not shaped like an e-mail address becomes text again.
8. ``dashes``: ``smartquotes_action = "qe"`` (conf.py) keeps ``--smoke`` as typed; this puts
   back the two dashes the prose means: `` -- `` between words is an en dash, as is ``--``
   between digits (``1--5``), and `` --- `` an em dash.
9. ``module_docstring_links``: "see the module docstring" on a class or function page links to
   the page of the module that defines the object, where that module has one (api.rst gives the
   model and op modules pages that show only their docstring).
10. ``check_single_pages``: warns when one object has two API pages (a top-level name and its
    module's): ``mgr_top_level_pages`` in conf.py says which one the modules link to.
11. ``alias_public_names``: every public name of an object is an alias of its one page
    (``minigraphrec.evaluate`` of ``minigraphrec.metrics.evaluate``), so that ``mgr.evaluate``
    in a tutorial's code links there; ``public_names_by_object`` also gives the API pages'
    templates every name a tutorial may have used (``also`` in conf.py's
    ``autosummary_context``), whose tutorials each page lists.
12. ``DocsPathLinks``: a literal ``docs/data_formats.md`` links to that page of the site.

``tutorial_downloads`` (with 1) makes the downloads hold the scripts in ``tutorials/``: the
``.py``, the notebook's prose cells and the "Download zipped" archive holding both.
"""
import importlib
import os
import re
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.transforms import Transform
from docutils.utils import new_document
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from api_text import _public_names, join_module_docstring, public_names_by_object
from tutorial_text import _inline_md_to_rst, original_zip, percent_to_gallery, plain_notebook

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- 1. tutorial sources
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


def tutorial_downloads(app, exception):
    """Give the student what the page says to run: each tutorial's download is the script in
    ``tutorials/`` (percent format), not the converted source sphinx-gallery ran, its
    notebook's prose cells are plain Markdown (no ``.. markdown::`` directive), and the zip
    ("Download zipped") holds these two."""
    if exception is not None or app.builder.format != "html":
        return
    downloads = Path(app.outdir) / "_downloads"
    src = Path(app.config.mgr_tutorials_dir)
    for script in downloads.rglob("[0-9][0-9]_*.py"):
        original = src / script.name
        if original.exists():
            shutil.copyfile(original, script)
    for notebook in downloads.rglob("[0-9][0-9]_*.ipynb"):
        notebook.write_text(plain_notebook(notebook.read_text(encoding="utf-8")),
                            encoding="utf-8")
    for archive in downloads.rglob("[0-9][0-9]_*.zip"):      # "Download zipped": the same two
        original_zip(archive, src)


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
COMMAND = re.compile(r"^- command: `(?:[A-Z][A-Z0-9_]*=\S*\s+)*python (?:\S*/)?(bench_\w+\.py)\b",
                     re.M)                      # after any NAME=value the command recorded
README_ROW = re.compile(r"^\| `(bench_\w+\.py)[^|]*\| ([^|]+?) \|", re.M)


def benchmark_figures(results):
    """``{result stem: [PNG names]}``: each figure goes with the result files it draws.

    ``X.png`` belongs to ``X.md``. A PNG with no result file of its own stem is shared: it goes
    to the result files whose stem begins with its own (``sequential_layout.png`` ->
    ``sequential_layout_maxlen20.md``, ``..._maxlen50.md``); failing that, to the longest result
    stem it extends (``accuracy_recall.png`` -> ``accuracy.md``) and to that stem's variants
    without a figure of their own (``gfcf_gowalla_solvers.png`` -> ``gfcf_gowalla.md``,
    ``gfcf_gowalla_arpack.md``, ...).
    """
    stems = sorted(md.stem for md in results.glob("*.md"))
    figures = {stem: [] for stem in stems}
    shared = []
    for png in sorted(results.glob("*.png")):
        if png.stem in figures:
            figures[png.stem].append(png.name)
        else:
            shared.append(png)
    for png in shared:
        owners = [s for s in stems if s.startswith(png.stem)]
        if not owners:
            bases = [s for s in stems if png.stem.startswith(s + "_")]
            if bases:
                base = max(bases, key=len)
                owners = [base] + [s for s in stems
                                   if s.startswith(base + "_") and not figures[s]]
        for stem in owners:
            figures[stem].append(png.name)
    return figures


def benchmark_questions(readme):
    """``{script: the question it answers}`` from the first table in ``benchmarks/README.md``
    (the one before its ``## Figures`` section), in Markdown, up to its first question mark."""
    if not readme.exists():
        return {}
    text = readme.read_text(encoding="utf-8").split("\n## ", 1)[0]
    questions = {}
    for m in README_ROW.finditer(text):
        question = m.group(2).strip()
        questions[m.group(1)] = question[:question.index("?") + 1] if "?" in question else question
    return questions


def benchmark_script(md):
    """The ``bench_*.py`` script a result file names in its ``- command:`` line, or None."""
    match = COMMAND.search(md.read_text(encoding="utf-8"))
    return match.group(1) if match else None


def _page_title(md):
    """A result file's own ``# heading`` when it names the file (it may add a note after the
    name), else the file's stem: two files can share a heading (``eval_gowalla``)."""
    first = md.read_text(encoding="utf-8").split("\n", 1)[0]
    heading = first[2:].strip() if first.startswith("# ") else ""
    return heading if heading.startswith(md.stem) else md.stem


def write_benchmark_pages(app):
    """``docs/benchmarks/generated/<name>.md``, one per result file: its title, the question
    its script answers (from ``benchmarks/README.md``), its figures, then the result file
    (included below the title, its own ``#`` line skipped)."""
    results = Path(app.config.mgr_benchmark_results)
    questions = benchmark_questions(results.parent / "README.md")
    figures = benchmark_figures(results)
    out = Path(app.srcdir) / "benchmarks" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for md in sorted(results.glob("*.md")):
        script = benchmark_script(md)
        lines = [f"# {_page_title(md)}", ""]
        if script:
            question = questions.get(script)
            lines += [f"Written by `benchmarks/{script}`" + (f": {question}" if question else "."),
                      ""]
        for png in figures[md.stem]:
            rel = os.path.relpath(results / png, out)
            lines += [f"```{{image}} {rel}", f":alt: {png}", ":width: 100%", "```", ""]
        rel = os.path.relpath(md, out)
        skip = ":start-line: 1\n" if md.read_text(encoding="utf-8").startswith("# ") else ""
        lines += [f"```{{include}} {rel}", skip + "```" if skip else "```", ""]
        text = "\n".join(lines)
        page = out / md.name
        wanted.add(page.name)
        if not page.exists() or page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
    for stale in out.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()


class BenchmarkListDirective(SphinxDirective):
    """``.. mgr-benchmark-list::``: one line per result page, grouped by the script that wrote
    it, with the question the script answers (``benchmarks/README.md``'s table)."""

    def run(self):
        from docutils.statemachine import StringList
        results = Path(self.config.mgr_benchmark_results)
        readme = results.parent / "README.md"
        questions = benchmark_questions(readme)
        self.env.note_dependency(str(readme))
        rst = []
        for md in sorted(results.glob("*.md")):
            self.env.note_dependency(str(md))
            script = benchmark_script(md) or "?"
            question = questions.get(script, "")
            if not question:
                logger.warning(f"benchmarks/README.md's table has no question for {script} "
                               f"(which wrote {md.name})", type="mgr", subtype="benchmarks",
                               location=self.get_location())
            rst.append(f"* :doc:`{md.stem} <generated/{md.stem}>` (``{script}``): "
                       + _inline_md_to_rst(question))
        node = nodes.container()
        self.state.nested_parse(StringList(rst, source="benchmarks/README.md"),
                                self.content_offset, node)
        return node.children


def benchmark_table(readme):
    """The first table of ``benchmarks/README.md`` (every script: its question, latest
    headline, target and whether it is met), as Markdown; empty when there is none."""
    if not readme.exists():
        return ""
    text = readme.read_text(encoding="utf-8").split("\n## ", 1)[0]
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| script")), None)
    if start is None:
        return ""
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end])


class BenchmarkTableDirective(SphinxDirective):
    """``.. mgr-benchmark-table::``: ``benchmarks/README.md``'s table of scripts, headlines,
    targets and whether each is met, parsed as MyST Markdown."""

    def run(self):
        from myst_parser.parsers.sphinx_ import MystParser
        readme = Path(self.config.mgr_benchmark_results).parent / "README.md"
        self.env.note_dependency(str(readme))
        table = benchmark_table(readme)
        if not table:
            logger.warning("benchmarks/README.md has no table of scripts", type="mgr",
                           subtype="benchmarks", location=self.get_location())
            return []
        source, _ = self.get_source_info()
        sub = new_document(source, self.state.document.settings)
        sub.reporter = self.state.document.reporter
        MystParser().parse(table, sub)
        return list(sub.children)


# ---------------------------------------------------------------- 5. API completeness
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


# ---------------------------------------------------------------- 6. constants' comments
def _constant_comment(modname, name, obj):
    """The ``#:`` comment of ``modname.name``, looked up where the constant is defined.

    Candidates: ``modname`` itself, then the imported modules of the same package below it
    (a package re-exports from its private files), then the rest of the package; the first
    that binds ``name`` to this very object and has a ``#:`` comment for it wins.
    """
    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer
    root = modname.partition(".")[0]
    below = sorted(m for m in list(sys.modules) if m.startswith(modname + "."))
    rest = sorted(m for m in list(sys.modules)
                  if m.startswith(root + ".") and m != modname and m not in below)
    for candidate in [modname, *below, *rest]:
        module = sys.modules.get(candidate)
        if module is None or getattr(module, name, None) is not obj:
            continue
        try:
            analyzer = ModuleAnalyzer.for_module(candidate)
            analyzer.analyze()
        except PycodeError:
            continue
        comment = analyzer.attr_docs.get(("", name))
        if comment:
            return list(comment)
    return None


def constant_doc_comments(app, what, name, obj, options, lines):
    """``autodoc-process-docstring`` for module-level data: its ``#:`` comment, never the type's.

    Runs for the constant's own page and for the one-line summary in its module's table.
    """
    if what != "data":
        return
    modname, _, attr = name.rpartition(".")
    if modname not in sys.modules:
        return
    comment = _constant_comment(modname, attr, obj)
    if comment is not None:
        lines[:] = comment
        return
    inherited = getattr(type(obj), "__doc__", None)
    if inherited and getattr(obj, "__doc__", None) == inherited:
        lines[:] = []
    if not any(line.strip() for line in lines):
        logger.warning(f"constant {name} has no '#:' comment where it is defined",
                       type="mgr", subtype="constant")


# ---------------------------------------------------------------- 7. no mailto: for Recall@20
EMAIL_SHAPE = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}$")


class PlainTextEmails(Transform):
    """``Recall@20``, ``HR@k`` and the like stay text: docutils' standalone e-mail recognition
    makes a ``mailto:`` reference of any ``word@word``; only an address with a dotted domain
    ending in letters (``someone@example.org``) keeps its link."""

    default_priority = 900          # after the parser, before Sphinx resolves references

    def apply(self):
        for ref in list(self.document.findall(nodes.reference)):
            uri = ref.get("refuri", "")
            if uri.startswith("mailto:") and not EMAIL_SHAPE.match(ref.astext()):
                ref.replace_self(nodes.Text(ref.astext()))


# ---------------------------------------------------------------- 8. dashes, but not --flags
SPACED_EM = re.compile(r"(?<=\s)---(?=\s)")
SPACED_EN = re.compile(r"(?<=\s)--(?=\s)")
RANGE_EN = re.compile(r"(?<=\d)--(?=\d)")


class ProseDashes(Transform):
    """The dashes of Sphinx's default ``smartquotes_action`` ("qDe") without its damage to
    command-line flags: ``--smoke`` and ``(--repeat 2)`` keep their two hyphens."""

    default_priority = 760          # next to Sphinx's smart quotes (750)

    def apply(self):
        from sphinx.util.nodes import is_smartquotable
        for text in list(self.document.findall(nodes.Text)):
            if "--" not in text or not is_smartquotable(text):
                continue
            new = RANGE_EN.sub("\u2013", SPACED_EN.sub("\u2013", SPACED_EM.sub("\u2014", text)))
            if new != text:
                text.parent.replace(text, nodes.Text(new))


# ---------------------------------------------------------------- 9. "the module docstring"
MODULE_DOCSTRING = re.compile(r"(?<![\w`])module docstring\b")


def module_docstring_links(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``: each "module docstring" outside ````literals```` becomes
    a link to the page of the module that defines ``obj`` (an inherited method: its base's)."""
    if what in ("module", "data"):
        return
    target = getattr(obj, "fget", obj)                  # a property: its getter
    module = getattr(target, "__module__", None)
    if not module or not (Path(app.srcdir) / "api" / "generated" / f"{module}.rst").exists():
        return
    link = f":doc:`module docstring </api/generated/{module}>`"
    join_module_docstring(lines)
    for i, line in enumerate(lines):
        if "module docstring" in line:
            parts = line.split("``")
            parts[::2] = [MODULE_DOCSTRING.sub(link, part) for part in parts[::2]]
            lines[i] = "``".join(parts)


# ---------------------------------------------------------------- 10. one page per object
def check_single_pages(app, env):
    """Warn when one object (not a constant) is documented on two pages."""
    objects = env.domains["py"].objects
    pages = {}
    for full, entry in objects.items():
        if entry.aliased or entry.objtype not in ("class", "function", "exception"):
            continue
        module, _, attr = full.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError):
            continue
        pages.setdefault(id(obj), []).append(full)
    for names in pages.values():
        if len(names) > 1:
            logger.warning(f"{' and '.join(sorted(names))} are one object with two API pages: "
                           "add the top-level name to mgr_top_level_pages in docs/conf.py",
                           type="mgr", subtype="api")


# ---------------------------------------------------------------- 11. every public name
def alias_public_names(app, env):
    """``env-updated``: each public name of an object documented under another of its names
    becomes an alias of that page in the py domain (as ``:canonical:`` makes one).

    The tutorials call ``mgr.evaluate``, which sphinx-gallery looks up as
    ``minigraphrec.evaluate``, while the page is ``minigraphrec.metrics.evaluate`` (the
    ``metrics`` module's page lists it); with the alias, the name in the code links to that
    page. References in the docs resolve through the alias too; search and the index show
    only the documented name."""
    from sphinx.domains.python import ObjectEntry
    objects = env.domains["py"].objects
    for full, names in public_names_by_object(app.config.mgr_api_modules).items():
        if full in objects:
            continue
        pages = [objects[n] for n in names if n in objects and not objects[n].aliased]
        if len(pages) == 1:
            page = pages[0]
            objects[full] = ObjectEntry(page.docname, page.node_id, page.objtype, aliased=True)


# ---------------------------------------------------------------- 12. docs/*.md as links
DOCS_PATH = re.compile(r"^docs/([\w./-]+)\.(?:md|rst)$")


class DocsPathLinks(SphinxTransform):
    """A literal ``docs/data_formats.md`` (the README, included in the install page, names
    the docs by their path for readers on GitHub) links to that page of the site."""

    default_priority = 900

    def apply(self):
        from sphinx.addnodes import pending_xref
        for literal in list(self.document.findall(nodes.literal)):
            match = DOCS_PATH.match(literal.astext())
            if not match or match.group(1) not in self.env.found_docs \
                    or isinstance(literal.parent, (nodes.reference, pending_xref)):
                continue
            ref = pending_xref("", refdomain="std", reftype="doc",
                               reftarget="/" + match.group(1), refexplicit=True,
                               refdoc=self.env.docname)
            literal.replace_self(ref)
            ref += literal


def setup(app):
    app.add_config_value("mgr_tutorials_dir", "", "env")
    app.add_config_value("mgr_tutorial_sources", "", "env")
    app.add_config_value("mgr_benchmark_results", "", "env")
    app.add_config_value("mgr_api_modules", [], "env")
    app.add_directive("markdown", MarkdownDirective)
    app.add_directive("mgr-benchmark-list", BenchmarkListDirective)
    app.add_directive("mgr-benchmark-table", BenchmarkTableDirective)
    # before sphinx-gallery's own builder-inited handler (priority 500)
    app.connect("builder-inited", write_tutorial_sources, priority=400)
    app.connect("builder-inited", write_benchmark_pages, priority=400)
    app.connect("env-check-consistency", check_api_complete)
    app.connect("autodoc-process-docstring", constant_doc_comments)
    app.connect("autodoc-process-docstring", module_docstring_links)
    app.connect("env-check-consistency", check_single_pages)
    app.connect("env-updated", alias_public_names)
    app.connect("build-finished", tutorial_downloads)
    app.add_transform(PlainTextEmails)
    app.add_transform(ProseDashes)
    app.add_transform(DocsPathLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
