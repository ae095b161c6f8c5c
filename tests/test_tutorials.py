"""Every tutorial runs as a script and reports what its prose says."""
import runpy
from pathlib import Path

import numpy as np

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def run(name):
    return runpy.run_path(str(TUTORIALS / name), run_name="__main__")


def test_01_article_gcn():
    ns = run("01_article_gcn.py")
    assert ns["n_edges_as_printed"] == 0                       # the article's randint(0, 1)
    assert np.allclose(ns["H1"], ns["H1_by_hand"], rtol=1e-12, atol=1e-12)
    assert ns["graph_top_u1"] == "v5"                          # the toy's planted answer
    assert ns["last_loss"] < 0.5 * ns["first_loss"]            # training moved the loss
    assert ns["gap"] > 0.2                                     # observed pairs score higher
    assert len(ns["seeds_top_u1"]) == 3


def test_every_tutorial_is_tested():
    tested = {"01_article_gcn.py"}
    assert {p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py")} == tested
