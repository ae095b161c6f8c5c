"""load refuses files save never writes, though their checksum is right: sparse index
arrays outside their shape, and arrays of another dtype than fit writes."""
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import child_env, resave

import minigraphrec as mgr
from minigraphrec import io
from minigraphrec.data import Interactions
from minigraphrec.errors import DataError


def _train():
    rng = np.random.default_rng(0)
    R = rng.random((12, 15)) < 0.3
    R[0, 0] = True
    u, i = np.nonzero(R)
    return Interactions(u, i, n_users=12, n_items=15)


def _crafted(path, edit):
    """Rewrite ``path`` with ``edit(arrays)`` applied and the checksum recomputed: a file
    well-formed in every way the checksum can tell."""
    resave(path, edit_arrays=edit)


def _set(key, change):
    """An edit replacing array ``key`` by ``change(a copy of it)``."""
    def edit(arrays):
        arrays[key] = change(arrays[key].copy())
    return edit


def _last_index_far(a):
    a[-1] = 10**6
    return a


def _indptr_back(a):
    a[3] = a[4] + 5                       # row 3 ends before it starts
    return a


_MAKERS = {
    "EASE": lambda: mgr.EASE(l2=10.0),
    "MF": lambda: mgr.MF(dim=4, epochs=1, random_state=0),
    "ItemKNN": lambda: mgr.ItemKNN(),
    "GFCF": lambda: mgr.GFCF(n_factors=4),
}

# (model, array, change, what the error says after "<path>: attribute '<name>' is not a
# valid CSR matrix of shape (...): ")
_SPARSE_CASES = [
    ("EASE", "R_/indices", _last_index_far,
     r"row 11 holds column index 1000000, outside 0\.\.14"),
    ("MF", "R_/indices", _last_index_far, r"row 11 holds column index 1000000"),
    ("ItemKNN", "similarity_/indices", lambda a: np.full_like(a, 10**6),
     r"row 0 holds column index 1000000"),
    ("GFCF", "R_/indptr", _indptr_back, r"its indptr decreases at row"),
    ("GFCF", "R_tilde_/indices", _last_index_far, r"row 11 holds column index 1000000"),
    ("EASE", "R_/indptr", _indptr_back, r"its indptr decreases at row"),
]


def test_sparse_index_arrays_outside_their_shape_are_refused_at_load(tmp_path):
    """Each file loaded (SciPy's constructor checks neither), then crashed the process at its
    first scoring (EASE, MF, ItemKNN: a segfault) or inside load (GF-CF: a RuntimeError from
    SciPy's C++). Loaded and scored in a child process, so that a crash fails this test
    rather than ending pytest: each is now a DataError naming the file and the attribute."""
    fitted = {name: make().fit(_train()) for name, make in _MAKERS.items()}
    paths = []
    for k, (name, key, change, _) in enumerate(_SPARSE_CASES):
        path = tmp_path / f"{k}-{name}.npz"
        fitted[name].save(path)
        _crafted(path, _set(key, change))
        paths.append(str(path))
    code = r"""
import sys
import numpy as np
import minigraphrec as mgr
from minigraphrec.errors import DataError
for path in sys.argv[1:]:
    try:
        model = mgr.load(path)
    except DataError as err:
        print("refused:", err, flush=True)
        continue
    model.recommend(np.arange(model.n_users_), 5)
    print("loaded and scored:", path, flush=True)
"""
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True,
                         text=True, timeout=300, env=child_env())
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr[-2000:])
    lines = out.stdout.splitlines()
    assert len(lines) == len(_SPARSE_CASES), out.stdout
    for line, path, (name, key, _, message) in zip(lines, paths, _SPARSE_CASES):
        attribute = key.split("/")[0]
        assert line.startswith(f"refused: {path}: attribute '{attribute}' is not a valid "
                               f"CSR matrix of shape ("), line
        assert re.search(message, line), (message, line)


def test_a_sparse_shape_that_is_not_two_counts_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    mgr.EASE(l2=10.0).fit(_train()).save(path)
    _crafted(path, _set("R_/shape", lambda a: np.array([12.0, 15.0, 1.0])))
    with pytest.raises(DataError, match=rf"{path}: attribute 'R_' has shape \[12.0, 15.0, "
                                        r"1.0\], not two counts"):
        io.load(path)


@pytest.mark.parametrize("model, key, change, match", [
    ("EASE", "B_", lambda a: a.astype("U4"), r"B_ has dtype <U4, a float dtype expected"),
    ("EASE", "B_", lambda a: a.astype(np.int64), r"B_ has dtype int64, a float dtype"),
    ("Popularity", "popularity_", lambda a: a.astype("U4"), r"popularity_ has dtype <U4"),
    ("EASE", "R_/data", lambda a: a.astype("U3"),
     r"R_ has stored values of dtype <U3, a numeric dtype expected"),
    ("MF", "user_embeddings_", lambda a: a.astype(np.int64),
     r"user_embeddings_ has dtype int64, a float dtype expected"),
    ("ItemKNN", "similarity_/data", lambda a: a.astype(np.int32),
     r"similarity_ has stored values of dtype int32, a float dtype expected"),
    ("EASE", "item_ids_", lambda a: a.astype(np.float64),
     r"item_ids_ has dtype float64, integer or str \(raw ids\) expected"),
    ("GFCF", "d_items_", lambda a: -a, r"d_items_\[0\] is -\d+\.0; degrees are >= 0"),
])
def test_an_array_of_another_dtype_than_fit_writes_is_refused_at_load(tmp_path, model, key,
                                                                      change, match):
    """Each loaded, then failed at scoring without naming the file (a str table: SciPy's or
    NumPy's TypeError; an integer table scored as it was), or scored NaN (a negative
    degree under GF-CF's square root)."""
    makers = {**_MAKERS, "Popularity": lambda: mgr.Popularity()}
    path = tmp_path / "m.npz"
    makers[model]().fit(_train()).save(path)
    _crafted(path, _set(key, change))
    with pytest.raises(DataError, match=rf"{path}: the saved \w+'s {match}"):
        io.load(path)


def test_integer_data_in_r_still_loads(tmp_path):
    """R_'s values may be any numbers (the binary matrix stored as int8, say): they are
    read as 0/1 nonzeros, and such a file scores as the original."""
    path = tmp_path / "m.npz"
    model = mgr.EASE(l2=10.0).fit(_train())
    model.save(path)
    _crafted(path, _set("R_/data", lambda a: a.astype(np.int8)))
    users = np.arange(12)
    np.testing.assert_array_equal(io.load(path).recommend(users, 5)[0],
                                  model.recommend(users, 5)[0])


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_every_dtype_save_writes_loads(tmp_path, dtype):
    """The dtype rules refuse nothing save writes: raw ids as str and int64, item labels,
    float32 and float64 tables, the int8 or float16 codes and float32 scales of the
    quantized models (dense and sparse item-item), float32 sparse values (GF-CF's R_tilde_)."""
    base = _train()
    train = Interactions(base.users, base.items, n_users=12, n_items=15,
                         user_ids=np.array([f"user-{k}" for k in range(12)]),
                         item_ids=np.arange(100, 115),
                         item_labels=[f"item {k}" for k in range(15)])
    users = np.arange(12)
    for name, make in _MAKERS.items():
        fitted = make().fit(train)
        for model in (fitted, mgr.quantize(fitted, dtype)):
            path = tmp_path / f"{name}-{type(model).__name__}.npz"
            model.save(path)
            loaded = io.load(path)
            np.testing.assert_array_equal(loaded.score(users), model.score(users))
