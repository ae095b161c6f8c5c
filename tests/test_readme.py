"""The README's examples run as printed (on a small synthetic data set)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PRELUDE = """
import numpy as np
import minigraphrec as mgr
data = mgr.datasets.synthetic(n_users=300, n_items=400, random_state=0)
train, test = mgr.split.random_split(data, test_size=0.2, random_state=0)
"""


def _blocks(heading):
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


@pytest.mark.parametrize("heading", ["## The article's open problems"])
def test_readme_examples_run(heading, tmp_path, monkeypatch):
    blocks = _blocks(heading)
    assert blocks, f"no python example under {heading!r}"
    monkeypatch.chdir(tmp_path)                  # examples save files
    namespace = {}
    exec(PRELUDE, namespace)
    for block in blocks:
        exec(compile(block, f"README {heading}", "exec"), namespace)
    assert (tmp_path / "itemknn.npz").exists() and (tmp_path / "model_int8.npz").exists()


def test_what_is_inside_names_every_file():
    """The README's "What is inside" table and the package's files match one to one."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## What is inside")
    first_row = text.index("| file", start)
    table = text[first_row:text.index("\n\n", first_row)]
    rows = {}
    for line in table.splitlines()[2:]:
        first, rest = line.split("|")[1:3]
        rows[first.strip().strip("`")] = rest
    package = README.parent / "minigraphrec"
    expected = {p.name + ("/" if p.is_dir() else "") for p in package.iterdir()
                if (p.suffix == ".py" and p.name != "__init__.py")
                or (p.is_dir() and (p / "__init__.py").exists())}
    assert set(rows) == expected
    for folder in (name for name in expected if name.endswith("/")):
        files = {p.name for p in (package / folder).glob("*.py") if p.name != "__init__.py"}
        named = set(re.findall(r"`([\w]+\.py)`", rows[folder]))
        assert named == files, folder


# The README's other examples, on a smaller data set and fewer epochs: each replacement must
# apply, so that the test runs what the README prints and not a stale copy of it.
SHRINK = [("mgr.datasets.synthetic(random_state=0)",
           "mgr.datasets.synthetic(n_users=300, n_items=400, random_state=0)"),
          ("epochs=50", "epochs=2"), ("epochs=20", "epochs=2")]


def test_readme_other_examples_run(tmp_path, monkeypatch):
    """Five lines, the splits, the figures and the gradient check run as printed, in order."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINIGRAPHREC_FIGURES", str(tmp_path / "figures"))
    headings = ["## Five lines of Python", "## Splits and graph preprocessing",
                "## Evaluation", "## Gradient checks"]
    code = "\n".join(block for heading in headings for block in _blocks(heading))
    for old, new in SHRINK:
        assert old in code, old
        code = code.replace(old, new)
    namespace = {}
    exec(compile(code, "README examples", "exec"), namespace)
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {
        "mf_history.png", "comparison.png", "mf_items.png"}


# ------------------------------------------------------------------ names the pages quote
PAGES = [README] + [README.parent / "docs" / name
                    for name in ("install.md", "data_formats.md", "extending.md")]
SPAN = re.compile(r"`(?:[\w.]+\.)?(\w+)\(([^`]*)\)`")       # `name(params)`, `mgr.x.name(...)`


def _functions():
    """Name -> function, for the public functions whose signatures the pages quote."""
    import inspect

    import minigraphrec as mgr
    from minigraphrec.models import EmbeddingRecommender
    funcs = {}
    for module in ("datasets", "split", "graph", "sequences", "metrics", "rank", "plot",
                   "privacy", "quantization", "io", "gradcheck"):
        for name in getattr(mgr, module).__all__:
            obj = getattr(getattr(mgr, module), name)
            if inspect.isfunction(obj):
                funcs.setdefault(name, obj)
    for name in ("explain", "partial_fit", "recommend", "score", "score_history",
                 "recommend_history"):
        funcs[name] = getattr(mgr.Recommender, name)
    funcs["fit"] = EmbeddingRecommender.fit               # the richest of the fits
    funcs["forget"] = EmbeddingRecommender.forget         # with method=
    return funcs


def _signature_problems(text, where, funcs):
    """Quoted parameter lists whose named parameters the function lacks, or puts in another
    order, or does not take by keyword only where the page says so (``*``)."""
    import ast
    import inspect
    problems, n_checked = [], 0
    for m in SPAN.finditer(text):
        name, args = m.groups()
        if name not in funcs:
            continue
        try:
            quoted = ast.parse(f"def f({args}): pass").body[0].args
        except SyntaxError:                     # a call with values (`f(x, 1 / 64)`): no list
            continue
        n_checked += 1
        signature = inspect.signature(funcs[name])
        params = [p for p in signature.parameters.values() if p.name != "self"]
        real = [p.name for p in params]
        n_pos = len(quoted.args) - len(quoted.defaults)      # positional: any argument name
        named = quoted.args[n_pos:] + quoted.kwonlyargs
        at = f"{where}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        unknown = [a.arg for a in named if a.arg not in real]
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in params):
            problems.append(f"{at}: {name}{signature} has no {unknown}")
            continue
        order = [real.index(a.arg) for a in named if a.arg in real]
        if order != sorted(order) or any(k < n_pos for k in order):
            problems.append(f"{at}: the order differs from {name}{signature}")
        for a in quoted.kwonlyargs:
            if a.arg in real and params[real.index(a.arg)].kind is not inspect.Parameter.KEYWORD_ONLY:
                problems.append(f"{at}: {a.arg} is not keyword-only in {name}{signature}")
    return problems, n_checked


def test_quoted_signatures_match_the_code():
    """A parameter list the pages quote (`load_triples(path, test_path=None, *, sep=None)`)
    names the function's parameters in its order: a reader copies it as a call."""
    funcs = _functions()
    problems, n_checked = [], 0
    for page in PAGES:
        found, n = _signature_problems(page.read_text(encoding="utf-8"), page.name, funcs)
        problems += found
        n_checked += n
    assert n_checked >= 30, n_checked
    assert not problems, "\n".join(problems)


def test_signature_check_catches_a_stale_order():
    funcs = _functions()
    stale = ("`load_triples(path, sep=None, header=None, test_path=None)` and "
             "`leave_one_out(data, by_time=False, random_state=None)`, "
             "`load_lightgcn(train_path, *, test_path=None)` and `random_split(data, seed=0)`, "
             "`load_sessions(path, sep=None)`, `recent_fraction(train, 1 / 64)`")
    problems, n = _signature_problems(stale, "x", funcs)
    assert n == 5 and len(problems) == 4, problems        # a call with values: not checked


def test_command_line_section_names_real_flags_and_models():
    """Every ``--flag`` the command-line section shows exists, and its model lists are the
    command's: ``train --model``'s and ``sessions --model``'s."""
    from minigraphrec import cli
    text = README.read_text(encoding="utf-8")
    start = text.index("## The command line")
    section = text[start:text.index("\n## ", start + 1)]
    parser = cli.build_parser()
    flags = set()
    subparsers = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]
    for sub in [parser] + [p for a in subparsers for p in a.choices.values()]:
        flags |= {s for action in sub._actions for s in action.option_strings}
    shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", section))
    assert shown and not shown - flags, sorted(shown - flags)
    listed = re.search(r"`--model` takes any of (.*?);", section, re.S).group(1)
    assert re.findall(r"`(\w+)`", listed) == list(cli.MODEL_HELP)
    sessions = re.search(r"fits `--model` \((.*?)\)", section, re.S).group(1)
    assert re.findall(r"`(\w+)`", sessions) == list(cli.SESSION_MODELS)
