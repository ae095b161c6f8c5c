r"""Sphinx configuration for the minigraphrec site.

Full build, executing every tutorial (2 min 19 s on two busy cores, 2026-12-07)::

    python -m sphinx -b html docs docs/_build/html

Fast build for CI, tutorials rendered without running them::

    python -m sphinx -W -b html -D plot_gallery=0 docs docs/_build/html

docs/install.md ("Building this site") says the same for readers.
"""
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

import minigraphrec                                   # noqa: E402
from api_text import public_names_by_object           # noqa: E402
from mgr_docs import SavedFigureScraper               # noqa: E402

project = "minigraphrec"
author = "the minigraphrec authors"
copyright = "2026, the minigraphrec authors"
release = version = minigraphrec.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "mgr_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "tutorials_header.rst", "tutorials/*.ipynb",
                    "tutorials/*.py", "tutorials/*.md5", "tutorials/*.zip"]
templates_path = ["_templates"]
default_role = "py:obj"                  # `name` in a docstring links to the API when it can
nitpicky = True                          # a reference that does not resolve fails the -W build
# What nitpicky may leave unlinked, each as narrow as it can be. No intersphinx: the build must
# not need the network (the machine it was set up on reaches package registries only), so
# Python's, NumPy's and SciPy's inventories are not fetched. A public name of the package gets
# a page instead (api.rst).
nitpick_ignore_regex = [
    (r"py:.*", r"(?:[\w.]+\.)?_\w+"),                 # private: _param_names, Recommender._removal
    (r"py:.*", r"minigraphrec\.kernels(?:\.\w+)*"),   # the numba kernels, documented in the source
    (r"py:class", r"(?:np|numpy)\.ndarray|sp\.csr_matrix|scipy\.sparse\._csr\.csr_matrix"),
    (r"py:mod", r"threadpoolctl"),                     # third-party, no inventory
]
smartquotes_action = "qe"                # curly quotes and …, but "--smoke" stays two hyphens

# ---------------------------------------------------------------- the tutorials
# sphinx-gallery runs each tutorial from the folder of its (converted) source, so the figures it
# writes through minigraphrec.plot.save_figure land in <that folder>/figures, where the scraper
# picks them up; the printed paths read "figures/NN_name.png", as for a reader who runs it.
BUILD = DOCS / "_build"
TUTORIAL_SOURCES = BUILD / "tutorial_sources"
FIGURES = TUTORIAL_SOURCES / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
for old in FIGURES.glob("*.png"):
    old.unlink()
os.environ["MINIGRAPHREC_FIGURES"] = "figures"
os.environ.pop("MINIGRAPHREC_ML100K", None)           # the site shows the embedded data only
os.environ.pop("MINIGRAPHREC_TUTORIAL_TINY", None)    # and the tutorials at their full size
os.environ.setdefault("MPLBACKEND", "Agg")

mgr_tutorials_dir = str(ROOT / "tutorials")
mgr_tutorial_sources = str(TUTORIAL_SOURCES)
mgr_benchmark_results = str(ROOT / "benchmarks" / "results")

sphinx_gallery_conf = {
    "examples_dirs": mgr_tutorial_sources,
    "gallery_dirs": "tutorials",
    "filename_pattern": r"/\d\d_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib", SavedFigureScraper(FIGURES)),
    "doc_module": ("minigraphrec",),
    "reference_url": {"minigraphrec": None},
    "backreferences_dir": str(BUILD / "backreferences"),
    "exclude_implicit_doc": set(),
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 0,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# ---------------------------------------------------------------- Markdown (MyST)
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
myst_heading_anchors = 2
suppress_warnings = ["myst.header"]   # result files open at "#", included below a page title

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_ignore_module_all = False
autosummary_imported_members = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
mgr_api_modules = [
    "minigraphrec", "minigraphrec.datasets", "minigraphrec.split", "minigraphrec.graph",
    "minigraphrec.ops", "minigraphrec.losses", "minigraphrec.optim", "minigraphrec.gradcheck",
    "minigraphrec.models", "minigraphrec.train", "minigraphrec.rank", "minigraphrec.metrics",
    "minigraphrec.io", "minigraphrec.sequences", "minigraphrec.plot", "minigraphrec.linalg",
    "minigraphrec.threadpools", "minigraphrec.explain",
    "minigraphrec.quantization", "minigraphrec.privacy",
]
# Names api.rst documents at the top level (``mgr.quantize``, the name the tutorials call). Their
# modules' pages list them too, linking to that page instead of making a second, identical one
# (docs/_templates/autosummary/module.rst reads ``top_level``).
mgr_top_level_pages = ["Explanation", "quantize", "set_threads", "get_threads", "threads"]


def _top_level_aliases():
    """``{module: {name: "minigraphrec.<name>"}}`` for the names above, in each module."""
    import importlib
    aliases = {}
    for module_name in mgr_api_modules[1:]:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            if name in mgr_top_level_pages and getattr(minigraphrec, name) is getattr(module, name):
                aliases.setdefault(module_name, {})[name] = f"minigraphrec.{name}"
    return aliases


# ``also``: every public name of a page's object (``minigraphrec.evaluate`` for
# ``minigraphrec.metrics.evaluate``): sphinx-gallery records the name a tutorial calls, the
# shortest one, and the page's mini-gallery lists the tutorials that use any of them.
autosummary_context = {"top_level": _top_level_aliases(),
                       "also": public_names_by_object(mgr_api_modules)}

# ---------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"minigraphrec {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sg_download_links", "sg_launcher_links"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "install": [], "data_formats": [],
                 "tutorials/[0-9]*": []}       # the tutorials' code and figures get the width
html_show_sourcelink = False
