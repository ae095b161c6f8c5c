"""The docs' conversion of a tutorial's prose and its undoing for downloads
(docs/_ext/tutorial_text.py), and what the API pages say (docs/_ext/api_text.py): no Sphinx
needed."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
import tutorial_text  # noqa: E402


def test_a_notebook_cell_loses_the_markdown_wrapping():
    """What sphinx-gallery puts in a downloaded notebook (the directive and its indented
    block) becomes the Markdown the tutorial's author wrote, code fences included."""
    prose = ["Each model maps $E$:", "", "* **MF**: $E = E_0$;", "* **GCN**: two layers.", "",
             "```python", "x = 1", "```"]
    rst = "\n".join(tutorial_text.markdown_cell_to_rst(prose))
    assert ".. markdown::" in rst
    assert tutorial_text.unwrap_markdown(rst) == "\n".join(prose) + "\n"
    plain = "## A heading\n\nSome text.\n"
    assert tutorial_text.unwrap_markdown(plain) == plain               # nothing to undo


def test_a_tutorial_zip_holds_the_original_script(tmp_path):
    """"Download zipped" gets what the single downloads get: the script in tutorials/ and the
    notebook with plain Markdown prose, under the same member names."""
    import json
    import zipfile
    tutorials = tmp_path / "tutorials"
    tutorials.mkdir()
    script = "# %% [markdown]\n# # Title\n#\n# Some $x$.\n\n# %%\nx = 1\n"
    (tutorials / "01_demo.py").write_text(script, encoding="utf-8")
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {},
                           "source": [".. markdown::\n", "\n", "   Some $x$.\n"]},
                          {"cell_type": "code", "metadata": {}, "source": ["x = 1\n"]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 0}
    archive = tmp_path / "01_demo.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("01_demo.py", tutorial_text.percent_to_gallery(script))
        z.writestr("01_demo.ipynb", json.dumps(notebook))
    tutorial_text.original_zip(archive, tutorials)
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["01_demo.py", "01_demo.ipynb"]
        assert z.read("01_demo.py").decode("utf-8") == script
        cells = json.loads(z.read("01_demo.ipynb"))["cells"]
    assert "".join(cells[0]["source"]) == "Some $x$.\n"
    assert cells[1]["source"] == ["x = 1\n"]


def test_module_docstring_split_over_two_lines_keeps_its_punctuation():
    """"(see the module" / "docstring), and" must not render as "module docstring )": the
    punctuation moves up with "docstring", and a line left empty is dropped, not left blank
    (which would end the paragraph)."""
    import api_text
    lines = ["    difference (see the module", "    docstring, \"Kinks\"). It is",
             "    the module", "    docstring).", "    Next line."]
    api_text.join_module_docstring(lines)
    assert lines == ["    difference (see the module docstring,", "    \"Kinks\"). It is",
                     "    the module docstring).", "    Next line."]
    plain = ["the module", "docstring for the formulas"]
    api_text.join_module_docstring(plain)
    assert plain == ["the module docstring", "for the formulas"]
    literal = ["``a module", "docstring``, here"]                   # inside a literal: kept
    api_text.join_module_docstring(literal)
    assert literal == ["``a module", "docstring``, here"]


def test_every_public_name_of_an_object_is_known():
    """sphinx-gallery records ``mgr.evaluate`` as ``minigraphrec.evaluate``; its page is
    ``minigraphrec.metrics.evaluate``: both names (and the defining module's) are one group."""
    import api_text
    names = api_text.public_names_by_object(["minigraphrec", "minigraphrec.metrics",
                                             "minigraphrec.models"])
    assert names["minigraphrec.evaluate"] == ["minigraphrec.evaluate",
                                              "minigraphrec.metrics.evaluate"]
    assert names["minigraphrec.metrics.evaluate"] == names["minigraphrec.evaluate"]
    assert names["minigraphrec.models.LightGCN"] == [
        "minigraphrec.LightGCN", "minigraphrec.models.LightGCN",
        "minigraphrec.models.lightgcn.LightGCN"]
    assert not any(name.endswith("__version__") for name in names)      # constants: no group


def test_every_input_check_has_an_api_entry():
    """The docstrings link to ``minigraphrec.errors.check_*`` (``check_ids``,
    ``check_compressed``, ...), so each public function of ``errors.py`` has an autosummary
    entry in docs/api.rst, under ``.. currentmodule:: minigraphrec.errors`` (a reference
    without a page fails the nitpicky build)."""
    import inspect
    import re

    import minigraphrec.errors as errors
    api = (Path(__file__).resolve().parents[1] / "docs" / "api.rst").read_text(encoding="utf-8")
    part = api[api.index(".. currentmodule:: minigraphrec.errors"):]
    part = part[:part.index(".. currentmodule:: minigraphrec\n")]
    entries = set(re.findall(r"^ +(\w+)$", part, re.M))
    public = {name for name, obj in vars(errors).items()
              if inspect.isfunction(obj) and obj.__module__ == errors.__name__
              and not name.startswith("_")}
    assert public - entries == set(), sorted(public - entries)
