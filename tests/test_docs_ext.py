"""The docs' conversion of a tutorial's prose, and its undoing for downloads (no Sphinx
needed: docs/_ext/tutorial_text.py)."""
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
