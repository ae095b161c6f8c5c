"""The delimited-file reader's per-block shortcuts give what their plain forms give.

The reader reads blocks of ``_parse._CHUNK_BYTES`` (128 KiB: a block's strings stay in the
CPU's cache while they are numbered and freed), numbers ids through ``_parse._id_index``
(a dict that numbers a new raw id by itself, the loop in C) and looks for missing-value
marks with one set lookup per token (``_parse._MISSING_ANY_CASE``). Each is checked here
against the plain form: a ``setdefault`` loop, ``tok.lower() in _MISSING``, one block.
"""
import numpy as np
import pytest

import minigraphrec.datasets as ds
from minigraphrec.datasets import _parse
from conftest import write
from test_datasets_memory import snapshot


# ================================================================= numbering
def test_id_index_numbers_as_setdefault():
    rng = np.random.default_rng(0)
    tokens = [f"t{x}" for x in rng.zipf(1.5, 3000) % 400]
    cuts = [0, *np.sort(rng.choice(np.arange(1, 3000), 40, replace=False)).tolist(), 3000]
    plain, fast = {}, _parse._id_index()
    for a, b in zip(cuts, cuts[1:]):
        # a fresh str per token, as a block's split gives (no object shared between blocks)
        block = [(t + "#")[:-1] for t in tokens[a:b]]
        expected = _parse._number_chunk(plain, block)              # the setdefault loop
        got = _parse._number_chunk(fast, block)
        assert got.dtype == np.int64 and got.tolist() == expected.tolist()
        assert list(fast.items()) == list(plain.items())
    assert _parse._number_chunk(fast, []).shape == (0,)
    assert list(fast) == list(dict.fromkeys(tokens))               # first appearance


def test_reader_hands_on_plain_mappings(tmp_path):
    """Once read, the dicts no longer number: a raw id they lack is a KeyError, not a new id
    (the test file's ids are looked up in training's)."""
    f = write(tmp_path / "t.csv", "u1,i1,1\nu2,i1,2\nu1,i2,3\n")
    cols = _parse._TableReader(f, ",", 3, 0, "utf-8", 0, 1, 2, None).read()
    assert cols.users.tolist() == [0, 1, 0] and list(cols.user_index) == ["u1", "u2"]
    for index in (cols.user_index, cols.item_index):
        with pytest.raises(KeyError):
            index["stranger"]
        assert index.get("stranger", -1) == -1 and "stranger" not in index


# ============================================================ missing marks
def test_missing_any_case_is_the_lowered_lookup():
    """``_has_missing_mark`` is ``any(tok.lower() in _MISSING)``: every spelling of every mark,
    near misses, and the characters whose lower case is ASCII."""
    marks = sorted(_parse._MISSING_ANY_CASE)
    assert {m.lower() for m in marks} == set(_parse._MISSING)
    assert len(marks) == sum(2 ** sum(c.isalpha() for c in m) for m in _parse._MISSING)
    # no character but ASCII letters lowers to an ASCII letter of a mark (the Kelvin sign
    # lowers to "k", in no mark): so a non-ASCII token never lowers to one
    letters = set("".join(_parse._MISSING))
    to_ascii = {chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000
                and not chr(c).isascii() and chr(c).lower().isascii()}
    assert to_ascii == {"\u212a"} and "k" not in letters
    near = ["n", "a", "nA1", "nulls", " NA", "NA ", "n a", "NaN?", "nul", "İnil", "nİl",
            "\u212ail", "NONE\u0307", "none\u200b", "N/A/", "?", "nAn", "0", "-"]
    for tok in marks + near:
        assert _parse._has_missing_mark([tok]) == (tok.lower() in _parse._MISSING), tok
    assert not _parse._has_missing_mark(["u1", "nan1", "Nina"])
    assert _parse._has_missing_mark(["u1", "nUlL", "Nina"])


# ============================================================== block size
def test_default_blocks_give_the_one_block_result(tmp_path, monkeypatch):
    """Files of many default blocks (string ids, ISO-8601 times, session logs, a missing
    mark in a late block) read as one block reads them."""
    rng = np.random.default_rng(3)
    n = 40_000
    users, items = rng.integers(0, 5_000, n), (rng.zipf(1.4, n) - 1) % 3_000
    ms = 1_396_310_400_000 + np.sort(rng.integers(0, 10**10, n))
    iso = [f"{t}Z" for t in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")]
    cikm = ["sessionId;userId;itemId;timeframe;eventdate\n"] + [
        f"{k // 3};{'NA' if k % 7 else u % 97};{i};{k % 3 * 1000};{t[:10]}\n"
        for k, (u, i, t) in enumerate(zip(users.tolist(), items.tolist(), iso))]
    files = {
        "triples": (write(tmp_path / "t.csv", "".join(
            f"A{u:09d},B{i},{k % 5 + 1},{t}\n" for k, (u, i, t)
            in enumerate(zip(users.tolist(), items.tolist(), iso)))),
            lambda f: ds.load_triples(f, header=False)),
        "clicks": (write(tmp_path / "c.dat", "".join(
            f"{k // 4},{t},{i},0\n" for k, (i, t) in enumerate(zip(items.tolist(), iso)))),
            lambda f: ds.load_sessions(f, "triples", columns="session,timestamp,item,-")),
        "cikm": (write(tmp_path / "v.csv", "".join(cikm)), ds.load_sessions),
        "dropped": (write(tmp_path / "d.csv", "".join(
            f"{'null' if k == n - 5 else f'u{u}'},{i},1\n" for k, (u, i)
            in enumerate(zip(users.tolist(), items.tolist())))),
            lambda f: ds.load_triples(f, header=False, on_missing="drop")),
    }
    for name, (f, load) in files.items():
        assert f.stat().st_size > 3 * _parse._CHUNK_BYTES, name     # several blocks
        by_default = snapshot(load(f))
        with monkeypatch.context() as m:
            m.setattr(_parse, "_CHUNK_BYTES", 1 << 26)                  # the whole file
            assert snapshot(load(f)) == by_default, name
