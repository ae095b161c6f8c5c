"""The examples in the library's docstrings run and print what they show."""
import doctest
import importlib
import pkgutil

import pytest

import minigraphrec


def _modules_with_examples():
    names = []
    for info in pkgutil.walk_packages(minigraphrec.__path__, "minigraphrec."):
        module = importlib.import_module(info.name)
        if any(t.examples for t in doctest.DocTestFinder().find(module)):
            names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_the_docstrings_have_examples_to_run():
    assert len(MODULES) >= 4, MODULES               # the walk found them (not vacuous)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                     # an example may write ./figures
    monkeypatch.delenv("MINIGRAPHREC_FIGURES", raising=False)
    result = doctest.testmod(importlib.import_module(name), report=True,
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
