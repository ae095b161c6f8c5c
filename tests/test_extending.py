"""docs/extending.md ("Writing your own model") runs as printed, every python block of it.

Each ``## `` section is one example, run on its own: its blocks in order, in one fresh module
(as a reader pasting the section into a script would), from a temporary folder (the examples
save files). The page's own asserts are the checks; a block that raises fails the test with a
traceback into the page's line numbers.
"""
import re
import types
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _sections():
    """``[(heading, [(line, code), ...]), ...]`` for every ``## `` section with python blocks."""
    text = PAGE.read_text(encoding="utf-8")
    starts = [m.start() for m in re.finditer(r"^## ", text, re.M)] + [len(text)]
    sections = [("(before the first section)", 0, starts[0])]
    sections += [(text[a:text.index("\n", a)], a, b) for a, b in zip(starts, starts[1:])]
    found = []
    for heading, a, b in sections:
        blocks = [(text.count("\n", 0, a + m.start(1)) + 1, m.group(1))
                  for m in FENCE.finditer(text[a:b])]
        if blocks:
            found.append((heading, blocks))
    return found


SECTIONS = _sections()


def test_every_python_block_belongs_to_a_run_section():
    text = PAGE.read_text(encoding="utf-8")
    n_run = sum(len(blocks) for _, blocks in SECTIONS)
    assert n_run == text.count("```python\n") > 0
    # one worked example per kind: a scoring rule, an embedding model, a session model, an op
    assert len(SECTIONS) >= 4, [heading for heading, _ in SECTIONS]


@pytest.mark.parametrize("heading, blocks", SECTIONS, ids=[h[3:40] for h, _ in SECTIONS])
def test_example_runs(heading, blocks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    k = SECTIONS.index((heading, blocks))
    module = types.ModuleType(f"extending_md_{k}")    # the classes' __module__; mgr.load finds
    for line, code in blocks:                          # them among Recommender's subclasses
        exec(compile("\n" * (line - 1) + code, str(PAGE), "exec"), module.__dict__)


def test_an_unimplemented_hook_says_what_to_implement():
    """The checklist's promise: a missing hook raises NotImplementedError naming it."""
    import minigraphrec as mgr
    from minigraphrec.models import EmbeddingRecommender, SessionRecommender

    train = mgr.datasets.synthetic(n_users=30, n_items=20, random_state=0)

    class NoFit(mgr.Recommender):
        pass

    class NoScores(mgr.Recommender):
        def fit(self, train):
            self._fit_interactions(train)
            return self

    class NoEncoder(EmbeddingRecommender):
        def __init__(self):                        # the shared hyperparameters, MF's values
            vars(self).update(mgr.MF(epochs=1).get_params())

    class NoSessionModel(SessionRecommender):
        pass

    class NoSessionScores(SessionRecommender):
        def _fit_model(self, sequences):
            pass

    with pytest.raises(NotImplementedError, match=r"NoFit must implement fit\(train\)"):
        NoFit().fit(train)
    with pytest.raises(NotImplementedError, match=r"NoScores must implement _score_batch"):
        NoScores().fit(train).recommend([0])
    with pytest.raises(NotImplementedError, match=r"NoEncoder must implement _build"):
        NoEncoder().fit(train)
    with pytest.raises(NotImplementedError, match=r"NoSessionModel must implement _fit_model"):
        NoSessionModel().fit(train)
    with pytest.raises(NotImplementedError, match=r"must implement _score_sessions"):
        NoSessionScores().fit(train).score([0])
    model = NoEncoder()
    for hook, args in [("_init_params", (None,)), ("_forward_rows", (None,)),
                       ("_backward_rows", (None, None, None)), ("_all_embeddings", ())]:
        with pytest.raises(NotImplementedError, match=f"NoEncoder must implement {hook}"):
            getattr(model, hook)(*args)
