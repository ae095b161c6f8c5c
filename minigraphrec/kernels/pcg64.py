r"""numba twin of NumPy's ``PCG64`` uniform stream, readable at any position (for dropout masks).

Raw arrays and integers only, no validation. The reference is NumPy itself:
``np.random.default_rng(seed).random((n, d))`` draws ``U[r, t]`` as the
``(r·d + t)``-th output of the generator; :func:`uniform_rows` returns the
same doubles, bit for bit, for some rows only, without drawing the others
(tests/test_models.py compares them). Used by NGCF's message dropout, whose
mask is the full graph's ``(n, d)`` draw but is read on the batch's rows.

The generator (O'Neill's PCG-XSL-RR 128/64, as NumPy implements it in
``numpy/random/src/pcg64``): a 128-bit LCG ``s ← s·M + inc (mod 2^128)``;
each output first steps, then returns ``rotr64(hi(s) ⊕ lo(s), hi(s) >> 58)``.
A double is ``(x >> 11) · 2^-53``. Jumping ``k`` outputs ahead is the
LCG's affine map raised to the ``k``-th power (Brown, "Random number
generation with arbitrary strides", 1994), ``O(log k)`` 128-bit products.
128-bit values are ``(hi, lo)`` pairs of uint64; the products use LLVM's
``i128`` arithmetic.

Where the stream starts: ``state = rng.bit_generator.state["state"]``
(``"state"`` and ``"inc"`` Python ints), split by :func:`split128`.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["MULT_HI", "MULT_LO", "split128", "affine", "advance", "seek", "output_bits",
           "output_double", "next_double", "step_by", "threshold_bits", "uniform_rows"]

#: the LCG multiplier of NumPy's PCG64 (PCG_DEFAULT_MULTIPLIER_128), high and low words
MULT_HI = np.uint64(2549297995355413924)
MULT_LO = np.uint64(4865540595714422341)


def split128(x):
    """A Python int in ``[0, 2^128)`` as ``(hi, lo)`` uint64 (for the kernels' arguments)."""
    return np.uint64(x >> 64), np.uint64(x & 0xFFFFFFFFFFFFFFFF)


@intrinsic
def _mulhi64(typingctx, a, b):
    r"""The high 64 bits of the 128-bit product ``a · b`` of two uint64."""
    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(p, ir.Constant(i128, 64)), ir.IntType(64))
    return types.uint64(types.uint64, types.uint64), codegen


@njit(cache=True, inline="always")
def _mul128(ah, al, bh, bl):
    r"""``(a · b) mod 2^128`` for ``a = (ah, al)``, ``b = (bh, bl)`` -> ``(hi, lo)``."""
    return _mulhi64(al, bl) + al * bh + ah * bl, al * bl


@njit(cache=True, inline="always")
def _add128(ah, al, bh, bl):
    r"""``(a + b) mod 2^128`` -> ``(hi, lo)``."""
    lo = al + bl
    return ah + bh + np.uint64(lo < al), lo


@njit(cache=True)
def affine(ih, il, k):
    r"""The LCG's map for ``k >= 0`` steps, ``x ↦ M^k x + inc·(M^{k-1} + … + 1)``.

    ``(ih, il)`` the increment, uint64 words; returns ``(mh, ml, ph, pl)``:
    the multiplier ``M^k`` and the addend, both mod ``2^128``. Binary
    powering of the one-step map ``x ↦ M x + inc``: ``O(log k)`` steps.
    """
    ih, il = np.uint64(ih), np.uint64(il)          # from Python, ints may come as int64
    one = np.uint64(1)
    zero = np.uint64(0)
    acc_mh, acc_ml = zero, one                     # accumulated map x ↦ acc_m x + acc_p
    acc_ph, acc_pl = zero, zero
    cur_mh, cur_ml = MULT_HI, MULT_LO              # the map for 2^j steps
    cur_ph, cur_pl = ih, il
    k = np.uint64(k)
    while k > 0:
        if k & one:
            acc_mh, acc_ml = _mul128(acc_mh, acc_ml, cur_mh, cur_ml)
            acc_ph, acc_pl = _mul128(acc_ph, acc_pl, cur_mh, cur_ml)
            acc_ph, acc_pl = _add128(acc_ph, acc_pl, cur_ph, cur_pl)
        m1h, m1l = _add128(cur_mh, cur_ml, zero, one)
        cur_ph, cur_pl = _mul128(m1h, m1l, cur_ph, cur_pl)     # (M + 1)·p
        cur_mh, cur_ml = _mul128(cur_mh, cur_ml, cur_mh, cur_ml)
        k = k >> one
    return acc_mh, acc_ml, acc_ph, acc_pl


@njit(cache=True)
def advance(sh, sl, ih, il, k):
    r"""The LCG state after ``k >= 0`` steps from ``(sh, sl)``: :func:`affine` applied to it.

    ``(sh, sl)`` the state, ``(ih, il)`` the increment, uint64 words;
    returns the new ``(hi, lo)``.
    """
    mh, ml, ph, pl = affine(ih, il, k)
    xh, xl = _mul128(mh, ml, np.uint64(sh), np.uint64(sl))
    return _add128(xh, xl, ph, pl)


@njit(cache=True, inline="always")
def output_bits(sh, sl):
    r"""The 53-bit ``k`` of NumPy's ``random() = k · 2^-53`` for the stepped state ``(sh, sl)``."""
    x = sh ^ sl
    rot = sh >> np.uint64(58)
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return out >> np.uint64(11)


@njit(cache=True, inline="always")
def output_double(sh, sl):
    r"""The double NumPy's ``random()`` returns for the (already stepped) state ``(sh, sl)``."""
    return np.float64(output_bits(sh, sl)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def threshold_bits(p):
    r"""``c = ceil(p · 2^53)``: ``k · 2^-53 >= p`` exactly when ``k >= c``, for every 53-bit ``k``.

    Exact: ``p · 2^53`` is ``p`` with its exponent moved (no rounding) for ``p`` in [0, 1).
    Compiled, so the kernels and tests use the same line.
    """
    return np.uint64(math.ceil(p * 9007199254740992.0))


@njit(cache=True, inline="always")
def next_double(sh, sl, ih, il):
    r"""One output as NumPy's ``random()``: returns ``(new_hi, new_lo, u)``, ``u`` in [0, 1)."""
    xh, xl = _mul128(sh, sl, MULT_HI, MULT_LO)
    sh, sl = _add128(xh, xl, ih, il)
    return sh, sl, output_double(sh, sl)


@njit(cache=True, inline="always")
def step_by(sh, sl, mh, ml, ph, pl):
    r"""``(sh, sl)`` moved by the map ``x ↦ m x + p`` of :func:`affine` -> ``(hi, lo)``."""
    xh, xl = _mul128(sh, sl, mh, ml)
    return _add128(xh, xl, ph, pl)


@njit(cache=True, inline="always")
def seek(base_h, base_l, ih, il, cur_h, cur_l, cur_pos, pos):
    r"""The state before output ``pos``, from the state ``cur`` before output ``cur_pos``.

    Steps forward from ``cur`` when ``pos >= cur_pos`` (a short gap costs
    ``O(log gap)``), else jumps from the stream's start ``base``.
    Returns ``(hi, lo)``.
    """
    if pos >= cur_pos:
        return advance(cur_h, cur_l, ih, il, pos - cur_pos)
    return advance(base_h, base_l, ih, il, pos)


#: blocks of rows per call of :func:`uniform_rows` (each jumps into the stream once)
N_BLOCKS = 64


@njit(parallel=True, cache=True)
def uniform_rows(sh, sl, ih, il, rows, out):
    r"""``out[q] = U[rows[q]]`` where ``U = rng.random((n, d))`` from the state ``(sh, sl)``.

    rows : (m,) int64, each ``>= 0`` (any order and repeats allowed;
    ascending is fastest); out : (m, d) float64, overwritten. The rows are
    cut into :data:`N_BLOCKS` blocks run in parallel; in a block each row
    seeks position ``rows[q]·d`` (:func:`seek`) and draws ``d`` outputs.
    Every value depends on its position only: the same bits for any thread
    count.
    """
    m, d = out.shape
    for b in prange(N_BLOCKS):
        h, lo, pos = sh, sl, 0
        for q in range(m * b // N_BLOCKS, m * (b + 1) // N_BLOCKS):
            h, lo = seek(sh, sl, ih, il, h, lo, pos, rows[q] * d)
            for t in range(d):
                h, lo, u = next_double(h, lo, ih, il)
                out[q, t] = u
            pos = rows[q] * d + d
    return out
