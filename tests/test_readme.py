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
