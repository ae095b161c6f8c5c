"""Fixtures shared by several test files."""
import os
from pathlib import Path

# SciPy 1.8-1.12 ship PROPACK switched off unless this is set before SciPy is imported; the
# tests of svd_solver="propack" need it on (the library's "auto" checks, _propack_enabled).
# Set here, first, it reaches the children of child_env too.
os.environ.setdefault("SCIPY_USE_PROPACK", "1")

import numpy as np
import pytest

import minigraphrec
from minigraphrec import Interactions

#: the folder holding the ``minigraphrec`` package this test run imported
PACKAGE_ROOT = str(Path(minigraphrec.__file__).resolve().parents[1])


def child_env(env=None):
    """The environment for a child Python that must import the ``minigraphrec`` under test.

    ``python -m pytest`` from a checkout imports the checkout's package (the
    working directory comes first on ``sys.path``), while a script started
    elsewhere, or by path, imports the installed copy. After a non-editable
    ``pip install .`` (as ``.ci/run`` does) those are two copies, and numba
    keeps its compiled kernels beside each, so a kernel used by the tests and
    by a child was compiled twice (a fresh environment on AMD EPYC: 651 s for the suite before this,
    510 s after, one process). ``PYTHONPATH`` puts this run's
    package first: the child runs the code under test and shares its cache.
    ``env`` (default ``os.environ``) is copied, not changed.
    """
    env = dict(os.environ if env is None else env)
    rest = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + rest if rest else "")
    return env


@pytest.fixture
def checkerboard():
    """Two blocks of 4 users × 4 items; users take only their own block's items, and user u
    misses one in-block item (the one a good model must rank first).

    Returns (train Interactions, held-out item per user).
    """
    n_blocks, users_per_block, items_per_block = 2, 4, 4
    users, items, held = [], [], []
    for b in range(n_blocks):
        for j in range(users_per_block):
            u = b * users_per_block + j
            miss = b * items_per_block + j % items_per_block
            held.append(miss)
            for i in range(b * items_per_block, (b + 1) * items_per_block):
                if i != miss:
                    users.append(u)
                    items.append(i)
    n_users, n_items = n_blocks * users_per_block, n_blocks * items_per_block
    return Interactions(users, items, n_users=n_users, n_items=n_items), np.array(held)


def cyclic_walks(n_items=12, n_users=40, length=8, seed=0):
    """Each user walks the catalogue in steps of +1 from a random start, one item per time
    step: the next item is always the last one + 1 (mod n_items), which a sequence model must
    find and popularity cannot. Returns Interactions with timestamps."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start = rng.integers(n_items)
        for t in range(length):
            users.append(u)
            items.append((start + t) % n_items)
            times.append(t)
    return Interactions(users, items, n_items=n_items, timestamps=times)


def check_bad_hyperparameter(make, params, match, train, error=ValueError):
    """scikit-learn's contract for a bad hyperparameter: ``make(**params)`` and
    ``make().set_params(**params)`` only store the values (no error, nothing changed), and
    ``fit(train)`` rejects them with ``error`` whose message matches ``match``."""
    for model in (make(**params), make().set_params(**params)):
        stored = model.get_params()
        assert all(stored[name] is value for name, value in params.items()), stored
        with pytest.raises(error, match=match):
            model.fit(train)


def check_bad_session_histories(model):
    """A fitted next-item model refuses, with a DataError that names the problem, an ad-hoc
    session holding an item outside its catalogue (named with its position), an empty one,
    and one of non-integer ids."""
    from minigraphrec import DataError
    n = model.n_items_
    with pytest.raises(DataError, match=f"item {n} at position 1"):
        model.recommend_history([1, n])
    with pytest.raises(DataError, match="non-empty"):
        model.score_history([])
    with pytest.raises(DataError, match="integers"):
        model.score_history([1.5])


def write(path, content):
    """Write str (UTF-8) or bytes to ``path`` and return it (the loaders' tests)."""
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def assert_line_error(load, path, line, message):
    """``load()`` raises a DataError that names ``path``, 1-based ``line`` and ``message``."""
    from minigraphrec.errors import DataError
    with pytest.raises(DataError) as info:
        load()
    assert f"{path}, line {line}: " in str(info.value)
    assert message in str(info.value)


def pairs(data):
    """The interactions as a list of (raw user, raw item) pairs, in order."""
    return [(str(data.user_ids[u]), str(data.item_ids[i]))
            for u, i in zip(data.users, data.items)]


def raw_id_interactions():
    """Binary interactions of 40 users and 50 items with raw ids 1000+ / 5000+ (the data of
    the update tests: partial_fit and forget in raw ids)."""
    import minigraphrec as mgr
    d = mgr.datasets.synthetic(n_users=40, n_items=50, mean_interactions=6, random_state=0)
    return mgr.Interactions(d.users, d.items, n_users=d.n_users, n_items=d.n_items,
                            user_ids=1000 + np.arange(d.n_users),
                            item_ids=5000 + np.arange(d.n_items))


def resave(path, edit_arrays=None, edit_meta=None):
    """Rewrite a file of ``minigraphrec.io.save`` with its arrays (``{name: array}``) and its
    meta (the parsed JSON) edited in place by the given functions, and the checksum
    recomputed: a file well-formed in every way the checksum can tell."""
    import json

    from minigraphrec import io
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    arrays.pop("__sha256__")
    if edit_arrays is not None:
        edit_arrays(arrays)
    if edit_meta is not None:
        edit_meta(meta)
    meta_json = json.dumps(meta, sort_keys=True)
    arrays["__sha256__"] = np.array(io._digest(meta_json, arrays))
    arrays["__meta__"] = np.array(meta_json)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def fail_replace_at(monkeypatch, call, error):
    """Make ``os.replace`` raise ``error`` at its ``call``-th call (from 1) and rename as
    usual at the others: a write of several files that fails midway. Returns the list of
    destinations it is called with, filled as it goes."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == call:
            raise error
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    return calls
