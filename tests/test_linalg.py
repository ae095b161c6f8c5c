"""Tiled Cholesky and SPD inverse against np.linalg, with tiles small enough to be many."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from minigraphrec import linalg
from minigraphrec.linalg import cholesky, spd_inverse
from conftest import child_env


def spd(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 3, n))
    return X.T @ X + 0.1 * np.eye(n)                             # (n, n), condition ~1e3


@pytest.mark.parametrize("n,block", [(1, 1), (2, 1), (7, 3), (20, 4), (33, 8), (33, 33),
                                     (33, 64)])
def test_cholesky_equals_lapack(n, block):
    A = spd(n, n)
    L = cholesky(A, block_size=block)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    assert np.all(np.triu(L, 1) == 0)


@pytest.mark.parametrize("n,block", [(1, 1), (2, 1), (7, 3), (20, 4), (33, 8), (33, 33),
                                     (41, 40)])
def test_spd_inverse_equals_numpy_inverse(n, block):
    A = spd(n, 100 + n)
    P = spd_inverse(A, block_size=block)
    P0 = np.linalg.inv(A)
    np.testing.assert_allclose(P, P0, rtol=0, atol=1e-12 * np.abs(P0).max())
    np.testing.assert_array_equal(P, P.T)                        # exactly symmetric
    np.testing.assert_allclose(P @ A, np.eye(n), atol=1e-10)


def test_only_the_lower_triangle_is_read_and_input_is_kept():
    A = spd(12, 0)
    junk = A + np.triu(np.full_like(A, 1e6), 1)                  # upper triangle garbage
    before = junk.copy()
    np.testing.assert_allclose(spd_inverse(junk, 5), np.linalg.inv(A), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(junk, before)                  # overwrite_a=False: untouched


def test_overwrite_a_works_in_place():
    A = spd(10, 1)
    expected = np.linalg.inv(A)
    P = spd_inverse(A, 4, overwrite_a=True)
    assert P is A
    np.testing.assert_allclose(P, expected, rtol=1e-10, atol=1e-12)


def test_not_positive_definite_names_the_minor():
    A = spd(9, 2)
    A[6, 6] = -50.0                                              # minor 7 fails
    for f in (cholesky, spd_inverse):
        with pytest.raises(np.linalg.LinAlgError, match="order 7"):
            f(A, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="square"):
        spd_inverse(np.ones((3, 4)))
    with pytest.raises(ValueError, match="block_size"):
        cholesky(np.eye(3), block_size=0)


@pytest.mark.parametrize("f", [cholesky, spd_inverse])
def test_complex_and_non_numeric_input_is_refused(f):
    """A complex A lost its imaginary part with only a ComplexWarning: the factor of another
    matrix. Now a DataError (a ValueError) naming the dtype, like the rest of the package."""
    from minigraphrec.errors import DataError
    with pytest.raises(DataError, match="A must have a real .* got complex128: the imaginary"):
        f(np.array([[4, 1j], [-1j, 3]]))
    with pytest.raises(DataError, match="got complex64"):
        f(np.eye(2, dtype=np.complex64))                 # imaginary part 0: still refused
    with pytest.raises(DataError, match="got <U1"):
        f(np.array([["4", "1"], ["1", "3"]]))
    np.testing.assert_allclose(f(np.array([[4, 2], [2, 3]])),               # integers: cast
                               f(np.array([[4.0, 2.0], [2.0, 3.0]])), rtol=0, atol=0)


@pytest.mark.parametrize("f", [cholesky, spd_inverse])
@pytest.mark.parametrize("block", [1, 2, 64])
@pytest.mark.parametrize("where,value", [((2, 2), np.nan), ((0, 0), np.inf),
                                         ((2, 1), -np.inf)])
def test_non_finite_entries_are_named(f, block, where, value):
    """LAPACK took them: a NaN on the diagonal gave an all-NaN inverse, an infinite one a
    finite matrix that is no inverse. Now a DataError naming the first bad entry."""
    from minigraphrec.errors import DataError
    A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    A[where] = value
    with pytest.raises(DataError, match=rf"A\[{where[0]}, {where[1]}\] = {value} is not "
                                        r"finite"):
        f(A, block)
    for dtype in (np.float32, np.float16):                   # any float dtype is checked
        with pytest.raises(DataError, match="is not finite"):
            f(A.astype(dtype), block)


def test_non_finite_entries_above_the_diagonal_are_not_read(monkeypatch):
    A = spd(7, 4)
    junk = A.copy()
    junk[np.triu_indices(7, 1)] = np.nan                         # never read
    np.testing.assert_array_equal(spd_inverse(junk, 3), spd_inverse(A, 3))
    # the first bad entry in row order, whichever block of rows the check is in
    monkeypatch.setattr(linalg, "_CHECK_ENTRIES", 7)             # one row per step
    junk[5, 1] = junk[3, 3] = np.inf
    with pytest.raises(ValueError, match=r"A\[3, 3\] = inf"):
        cholesky(junk)


def test_no_lapack_or_blas_call_sees_more_than_a_tile(monkeypatch):
    seen = []

    class Recorder:
        def __init__(self, module):
            self._module = module

        def __getattr__(self, name):
            f = getattr(self._module, name)

            def wrapped(*args, **kwargs):
                seen.extend(np.shape(a) for a in args if isinstance(a, np.ndarray))
                return f(*args, **kwargs)
            return wrapped

    monkeypatch.setattr(linalg, "lapack", Recorder(linalg.lapack))
    monkeypatch.setattr(linalg, "blas", Recorder(linalg.blas))
    A = spd(50, 3)
    np.testing.assert_allclose(spd_inverse(A, 16), np.linalg.inv(A), rtol=1e-10, atol=1e-12)
    assert seen and max(max(s) for s in seen) <= 16


@pytest.mark.parametrize("f", [cholesky, spd_inverse])
@pytest.mark.parametrize("flag", ["no", "False", 0, None])
def test_overwrite_a_must_be_a_bool(f, flag):
    """overwrite_a="no" is truthy: it worked in the caller's array. Now a DataError, and the
    array is untouched."""
    from minigraphrec.errors import DataError
    A = spd(6, 5)
    before = A.copy()
    with pytest.raises(DataError, match="overwrite_a must be True or False"):
        f(A, 2, overwrite_a=flag)
    np.testing.assert_array_equal(A, before)


@pytest.mark.parametrize("f", [cholesky, spd_inverse])
def test_sparse_input_is_named(f):
    """A SciPy sparse matrix was reported as "a real dtype, got object"."""
    import scipy.sparse as sp
    from minigraphrec.errors import DataError
    with pytest.raises(DataError, match="A must be a dense array, got a SciPy sparse csr"):
        f(sp.csr_matrix(np.eye(3)))


def test_large_diagonal_tiles_are_factorised_on_one_blas_thread(monkeypatch):
    """A block_size at the size where OpenBLAS's threaded dpotrf crashed (16,000) handed it
    that size; diagonal tiles above SERIAL_LAPACK_ABOVE rows now go to dpotrf and dtrtri on
    one BLAS thread, smaller ones with the caller's count. Same numbers either way."""
    import minigraphrec as mgr
    with mgr.threads(2):
        if set(mgr.get_threads()["blas"].values()) != {2}:
            pytest.skip("no OpenBLAS whose count can be set")
        seen, lapack = [], linalg.lapack

        class Recorder:
            def __getattr__(self, name):
                def wrapped(T, **kwargs):
                    seen.append((name, T.shape[0], set(mgr.get_threads()["blas"].values())))
                    return getattr(lapack, name)(T, **kwargs)
                return wrapped

        A = spd(20, 6)
        expected = spd_inverse(A, 8)
        monkeypatch.setattr(linalg, "SERIAL_LAPACK_ABOVE", 5)
        monkeypatch.setattr(linalg, "lapack", Recorder())
        np.testing.assert_array_equal(spd_inverse(A, 8), expected)
        assert mgr.get_threads()["blas"] and set(mgr.get_threads()["blas"].values()) == {2}
    # tiles of 8, 8 and 4 rows: each to dpotrf and dtrtri
    assert [s for s in seen if s[0] == "dpotrf"] == [("dpotrf", 8, {1}), ("dpotrf", 8, {1}),
                                                     ("dpotrf", 4, {2})]
    assert [s for s in seen if s[0] == "dtrtri"] == [("dtrtri", 8, {1}), ("dtrtri", 8, {1}),
                                                     ("dtrtri", 4, {2})]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("MINIGRAPHREC_SLOW") != "1",
                    reason="2 GB and about a minute; set MINIGRAPHREC_SLOW=1")
def test_size_that_crashed_threaded_openblas_cholesky():
    # np.linalg.cholesky(3 * eye(16000)) kills the process with 2 OpenBLAS threads on AVX-512
    # (SkylakeX kernels); the tiled factorisation must survive it. Run apart: a crash would
    # take the test process down with it.
    code = textwrap.dedent("""
        import numpy as np
        from minigraphrec.linalg import cholesky
        L = cholesky(3.0 * np.eye(16000), overwrite_a=True)
        assert np.allclose(np.diag(L), np.sqrt(3.0)) and np.count_nonzero(L) == 16000
        print("ok")
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=1800, env=child_env(env))
    assert proc.returncode == 0 and "ok" in proc.stdout, (proc.returncode, proc.stderr[-2000:])
