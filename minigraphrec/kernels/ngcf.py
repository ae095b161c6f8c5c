r"""numba kernels for NGCF's elementwise steps on the rows a batch needs (fused, in parallel).

Raw arrays only, no validation: :class:`minigraphrec.models.ngcf.NGCF`
prepares the inputs; each kernel's docstring gives the NumPy expression it
equals (tests/test_models.py compares them, in float32 and float64).

A layer on the rows ``rows`` (m,) of the ball it is computed on, with
``S = L[rows] E`` (m, d) already propagated and ``E`` (n, d) the layer's
input by node id:

* :func:`bi_inputs`: ``SE = [S + E[rows], S ⊙ E[rows]]`` (m, 2d), the input
  of the one product ``SE [W1; W2]``;
* :func:`leaky_dropout`: ``E'[rows] = LeakyReLU(Z) · mask`` written by node
  id, with the message-dropout mask taken from the full graph's uniform
  draws ``U`` (n, d) on the same rows;
* :func:`leaky_dropout_pcg`: the same, the uniform draws made in the kernel
  (:mod:`minigraphrec.kernels.pcg64`, NumPy's ``PCG64`` stream read at the
  rows' positions) instead of read from an ``(n, d)`` array;
* :func:`leaky_dropout_backward`: ``dZ = LeakyReLU'(Z) · (mask · dE')``;
* :func:`bi_backward`: the gradient reaching ``S`` and ``E[rows]``
  through ``SE``, ``dsum + dbi ⊙ X`` (``dsum = dSE[:, :d]``, ``dbi =
  dSE[:, d:]``), gathered as ``dS = dsum + dbi ⊙ E[rows]`` before the
  transposed propagation (``scatter=False``) or scattered as
  ``dE[rows] += dsum + dbi ⊙ S`` after it (``scatter=True``).

Every output element is written by one thread with the same arithmetic as
the NumPy expression (same operations, same order), so the kernels equal
NumPy bit for bit and do not depend on the thread count.
:func:`bi_backward_numpy`, the one plain NumPy function here, is
:func:`bi_backward`'s reference (tests/test_ngcf_kernels.py): the model
calls the kernel only, so no wrapper holds it.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .pcg64 import (MULT_HI, MULT_LO, N_BLOCKS, affine, output_bits, seek, step_by,
                    threshold_bits)

__all__ = ["bi_inputs", "leaky_dropout", "leaky_dropout_pcg", "leaky_dropout_backward",
           "bi_backward", "bi_backward_numpy"]


@njit(parallel=True, cache=True)
def bi_inputs(S, E, rows, out):
    r"""``out = np.concatenate([S + E[rows], S * E[rows]], axis=1)``.

    S : (m, d); E : (n, d); rows : (m,) int64; out : (m, 2d), overwritten.
    """
    d = S.shape[1]
    for q in prange(rows.shape[0]):
        r = rows[q]
        for t in range(d):
            out[q, t] = S[q, t] + E[r, t]
            out[q, d + t] = S[q, t] * E[r, t]
    return out


@njit(parallel=True, cache=True)
def leaky_dropout(Z, bias, slope, U, p, scale, rows, mask, E_out):
    r"""Bias, LeakyReLU then inverted dropout, written by node id.

    NumPy: ``Z += bias`` (in place: the pre-activation the backward pass
    reads), ``H = np.where(Z > 0, Z, Z * slope)``; with ``p > 0``
    ``mask = (U[rows] >= p).astype(Z.dtype) * scale`` and ``H = H * mask``;
    ``E_out[rows] = H``.

    Z : (m, d), updated; bias : (d,); slope, scale : scalars of Z's dtype; U : (n, d) float64
    uniform draws (read on ``rows`` only; unused when ``p == 0``); p : float;
    rows : (m,) int64, distinct; mask : (m, d) of Z's dtype, overwritten
    (when ``p > 0``); E_out : (n, d), written on ``rows`` only.
    """
    d = Z.shape[1]
    zero = Z.dtype.type(0)
    for q in prange(rows.shape[0]):
        r = rows[q]
        for t in range(d):
            z = Z[q, t] + bias[t]
            Z[q, t] = z
            h = z if z > 0 else z * slope
            if p > 0:
                m = scale if U[r, t] >= p else zero
                mask[q, t] = m
                h = h * m
            E_out[r, t] = h
    return E_out


@njit(cache=True, inline="always")
def _leaky_drop(Z, bias, q, t, slope, kept, scale, zero, mask, E_out, r):
    r"""One element of :func:`leaky_dropout_pcg`: ``Z[q, t] += bias[t]``, ``mask[q, t]``,
    ``E_out[r, t]`` (``kept``: ``u >= p``)."""
    z = Z[q, t] + bias[t]
    Z[q, t] = z
    x = z if z > 0 else z * slope
    keep = scale if kept else zero
    mask[q, t] = keep
    E_out[r, t] = x * keep


@njit(parallel=True, cache=True)
def leaky_dropout_pcg(Z, bias, slope, state, p, scale, rows, mask, E_out):
    r""":func:`leaky_dropout` with ``U`` drawn here: ``U = rng.random((n, d))`` read on ``rows``.

    ``state`` (4,) uint64: the generator's LCG state and increment as
    ``(hi, lo)`` words (:func:`minigraphrec.kernels.pcg64.split128` of
    ``rng.bit_generator.state["state"]``), taken where the ``(n, d)`` draw
    would start. ``U[r, t]`` is output ``r·d + t`` from there, so the mask
    equals :func:`leaky_dropout`'s with NumPy's array, bit for bit, and the
    other rows' draws are skipped (:func:`~minigraphrec.kernels.pcg64.seek`).
    Rows ascending is fastest (a block steps forward through the stream).
    The rows are cut into ``N_BLOCKS`` blocks run in parallel; a value
    depends on its position only, not on the thread count.

    Speed: each LCG step waits on the one before (a 128-bit multiply-add),
    so when ``d`` is a multiple of 4 a row's draws are made as four
    interleaved chains, chain ``j`` stepping from output ``t`` to ``t + 4``
    by the four-step map (:func:`~minigraphrec.kernels.pcg64.affine`): the
    same states, hence the same doubles (integer arithmetic mod ``2^128``),
    four independent multiply chains the CPU overlaps. ``u >= p`` is
    tested on the integers, ``k >= ceil(p · 2^53)`` for ``u = k · 2^-53``
    (:func:`~minigraphrec.kernels.pcg64.threshold_bits`; the same answer).
    """
    m, d = Z.shape
    zero = Z.dtype.type(0)
    thr = threshold_bits(p) if p > 0 else np.uint64(0)
    sh, sl, ih, il = state[0], state[1], state[2], state[3]
    m4h, m4l, p4h, p4l = affine(ih, il, 4)                  # x -> the state 4 outputs on
    for b in prange(N_BLOCKS):
        h, lo, at = sh, sl, 0
        for q in range(m * b // N_BLOCKS, m * (b + 1) // N_BLOCKS):
            r = rows[q]
            if p <= 0:
                for t in range(d):
                    z = Z[q, t] + bias[t]
                    Z[q, t] = z
                    E_out[r, t] = z if z > 0 else z * slope
                continue
            h, lo = seek(sh, sl, ih, il, h, lo, at, r * d)
            at = r * d + d
            if d % 4 == 0:
                h0, l0 = step_by(h, lo, MULT_HI, MULT_LO, ih, il)   # outputs t .. t+3
                h1, l1 = step_by(h0, l0, MULT_HI, MULT_LO, ih, il)
                h2, l2 = step_by(h1, l1, MULT_HI, MULT_LO, ih, il)
                h3, l3 = step_by(h2, l2, MULT_HI, MULT_LO, ih, il)
                for t in range(0, d, 4):
                    _leaky_drop(Z, bias, q, t, slope, output_bits(h0, l0) >= thr, scale, zero,
                                mask, E_out, r)
                    _leaky_drop(Z, bias, q, t + 1, slope, output_bits(h1, l1) >= thr, scale, zero,
                                mask, E_out, r)
                    _leaky_drop(Z, bias, q, t + 2, slope, output_bits(h2, l2) >= thr, scale, zero,
                                mask, E_out, r)
                    _leaky_drop(Z, bias, q, t + 3, slope, output_bits(h3, l3) >= thr, scale, zero,
                                mask, E_out, r)
                    if t + 4 < d:
                        h0, l0 = step_by(h0, l0, m4h, m4l, p4h, p4l)
                        h1, l1 = step_by(h1, l1, m4h, m4l, p4h, p4l)
                        h2, l2 = step_by(h2, l2, m4h, m4l, p4h, p4l)
                        h3, l3 = step_by(h3, l3, m4h, m4l, p4h, p4l)
                h, lo = h3, l3                              # the state after output r·d + d - 1
            else:
                for t in range(d):
                    h, lo = step_by(h, lo, MULT_HI, MULT_LO, ih, il)
                    _leaky_drop(Z, bias, q, t, slope, output_bits(h, lo) >= thr, scale, zero,
                                mask, E_out, r)
    return E_out


@njit(parallel=True, cache=True)
def leaky_dropout_backward(dE, Z, slope, mask, has_mask, dZ, db_parts):
    r"""``dH = dE * mask`` (if ``has_mask``), then ``dZ = np.where(Z > 0, dH, dH * slope)``.

    dE, Z, mask, dZ : (m, d) of one dtype (``mask`` unread without
    ``has_mask``); ``dZ`` overwritten (may be ``dE``). Also the bias
    gradient's partial sums: the rows cut into ``n_blocks = db_parts.shape[0]``
    fixed blocks, ``db_parts[b] = dZ[rows of b].sum(axis=0)`` (rows in order),
    so ``db_parts.sum(axis=0)`` is ``dZ.sum(axis=0)`` to rounding, the same
    bits for any thread count.
    """
    m, d = Z.shape
    n_blocks = db_parts.shape[0]
    for b in prange(n_blocks):
        for t in range(d):
            db_parts[b, t] = 0
        for q in range(m * b // n_blocks, m * (b + 1) // n_blocks):
            for t in range(d):
                g = dE[q, t] * mask[q, t] if has_mask else dE[q, t]
                g = g if Z[q, t] > 0 else g * slope
                dZ[q, t] = g
                db_parts[b, t] += g
    return dZ


@njit(parallel=True, cache=True)
def bi_backward(dSE, X, rows, out, scatter):
    r"""``dsum + dbi ⊙ X`` per row, gathered from or scattered to ``rows``.

    With ``d = X.shape[1]``, ``dsum = dSE[:, :d]`` and ``dbi = dSE[:, d:]``,
    the gradients of ``SE = [S + E[rows], S ⊙ E[rows]]`` (m, 2d):

    * ``scatter=False`` (gather): ``out = dsum + dbi * X[rows]``;
      X : (n, d), out : (m, d), overwritten. With ``X = E`` it is ``dS``.
    * ``scatter=True``: ``out[rows] += dsum + dbi * X``; X : (m, d),
      out : (n, d), updated on ``rows`` only (distinct). With ``X = S`` it
      adds the share of ``E[rows]``.

    dSE : (m, 2d); rows : (m,) int64. NumPy: :func:`bi_backward_numpy`.
    """
    d = X.shape[1]
    for q in prange(rows.shape[0]):
        r = rows[q]
        if scatter:
            for t in range(d):
                out[r, t] += dSE[q, t] + dSE[q, d + t] * X[q, t]
        else:
            for t in range(d):
                out[q, t] = dSE[q, t] + dSE[q, d + t] * X[r, t]
    return out


def bi_backward_numpy(dSE, X, rows, out, scatter):
    r""":func:`bi_backward` in NumPy, the reference (equal bit for bit)."""
    d = X.shape[1]
    if scatter:
        out[rows] += dSE[:, :d] + dSE[:, d:] * X                # (m, d) into (n, d)
    else:
        out[...] = dSE[:, :d] + dSE[:, d:] * X[rows]           # (m, d)
    return out
