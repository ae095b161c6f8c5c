r"""numba kernels for SR-GNN's GRU cell: the elementwise parts, fused.

Raw arrays only, no validation: :func:`minigraphrec.ops.session.gru_cell_forward` and
:func:`~minigraphrec.ops.session.gru_cell_backward` check the inputs and hold the NumPy
reference (``backend="numpy"``) each kernel is tested against. The matrix products stay
with BLAS; these kernels replace the dozen-odd NumPy passes between them (each one a full
read and write of an ``(N, d)`` array) by one pass per kernel. The transcendental functions
stay with NumPy, whose SIMD ``exp`` and ``tanh`` beat numba's scalar calls here.

Arrays follow the cell's layout: the gates' pre-activations or gradients ``G`` / ``dG`` are
``(N, 3d)`` with the columns ``[z | r | h̃]``, ``zr`` is ``(N, 2d)`` = ``[z | r]``, states are
``(N, d)``. Rows run in parallel (``prange``); every output element is written by one
thread from its own row, so the result does not depend on the thread count. No
``fastmath``: the same operations in the same order as the NumPy reference, hence the same
bits.

Each kernel has a ``_serial`` twin that runs the same row function in one thread, for
small arrays (:data:`PARALLEL_FROM`): an SR-GNN step calls these kernels a few times on
arrays of a few hundred rows, and waking numba's thread pool for each call cost more than
the work. On a busy 2-core machine it cost far more: one epoch of a 16-wide SR-GNN on
2,700 sessions of 300 items took 8.3 s with 2 numba threads against 1.2 s with one (AMD
EPYC, load average 5, 2026-12-07, ad hoc), each parallel call about 5 ms, the scheduler's
time slice, for microseconds of work.
"""
from __future__ import annotations

from numba import njit, prange

__all__ = ["gru_update_rows", "gru_backward_gates_rows", "gru_backward_reset_rows",
           "gru_update_rows_serial", "gru_backward_gates_rows_serial",
           "gru_backward_reset_rows_serial", "GRU_KERNELS", "PARALLEL_FROM"]

#: arrays of fewer elements (``N * d``) than this go to the ``_serial`` kernels: the
#: threshold of Adam's serial kernel (:data:`minigraphrec.optim._PARALLEL_FROM`), for the
#: same reason
PARALLEL_FROM = 1 << 18


@njit(cache=True, inline="always")
def _update_row(h, zr, c, h_new, i):
    for j in range(h.shape[1]):
        h_new[i, j] = h[i, j] + zr[i, j] * (c[i, j] - h[i, j])


@njit(parallel=True, cache=True)
def gru_update_rows(h, zr, c, h_new):
    r"""``h_new = h + z ⊙ (c - h)``, with ``z = zr[:, :d]`` and ``c`` = tanh already applied.

    h, c, h_new : (N, d); zr : (N, 2d); same float dtype.
    """
    for i in prange(h.shape[0]):
        _update_row(h, zr, c, h_new, i)


@njit(cache=True)
def gru_update_rows_serial(h, zr, c, h_new):
    r""":func:`gru_update_rows` in one thread (small arrays)."""
    for i in range(h.shape[0]):
        _update_row(h, zr, c, h_new, i)


@njit(cache=True, inline="always")
def _gates_row(dh_new, zr, c, h, dG, i):
    d = h.shape[1]
    one = h.dtype.type(1)
    for j in range(d):
        z = zr[i, j]
        cij = c[i, j]
        dG[i, 2 * d + j] = (dh_new[i, j] * z) * (one - cij * cij)
        dG[i, j] = (dh_new[i, j] * (cij - h[i, j])) * (z * (one - z))


@njit(parallel=True, cache=True)
def gru_backward_gates_rows(dh_new, zr, c, h, dG):
    r"""The update-gate and candidate columns of ``dG``:

    ``dG[:, :d] = (dh' ⊙ (c - h)) ⊙ (z ⊙ (1 - z))``,
    ``dG[:, 2d:] = (dh' ⊙ z) ⊙ (1 - c ⊙ c)``.

    dh_new, c, h : (N, d); zr : (N, 2d); dG : (N, 3d), those columns overwritten.
    """
    for i in prange(h.shape[0]):
        _gates_row(dh_new, zr, c, h, dG, i)


@njit(cache=True)
def gru_backward_gates_rows_serial(dh_new, zr, c, h, dG):
    r""":func:`gru_backward_gates_rows` in one thread (small arrays)."""
    for i in range(h.shape[0]):
        _gates_row(dh_new, zr, c, h, dG, i)


@njit(cache=True, inline="always")
def _reset_row(drh, h, zr, dh_new, dG, dh, i):
    d = h.shape[1]
    one = h.dtype.type(1)
    for j in range(d):
        r = zr[i, d + j]
        dG[i, d + j] = (drh[i, j] * h[i, j]) * (r * (one - r))
        dh[i, j] = dh_new[i, j] * (one - zr[i, j]) + drh[i, j] * r


@njit(parallel=True, cache=True)
def gru_backward_reset_rows(drh, h, zr, dh_new, dG, dh):
    r"""The reset-gate columns of ``dG`` and the direct part of ``dh``:

    ``dG[:, d:2d] = (drh ⊙ h) ⊙ (r ⊙ (1 - r))``, ``dh = dh' ⊙ (1 - z) + drh ⊙ r``.

    drh, h, dh_new, dh : (N, d); zr : (N, 2d); dG : (N, 3d), those columns overwritten.
    """
    for i in prange(h.shape[0]):
        _reset_row(drh, h, zr, dh_new, dG, dh, i)


@njit(cache=True)
def gru_backward_reset_rows_serial(drh, h, zr, dh_new, dG, dh):
    r""":func:`gru_backward_reset_rows` in one thread (small arrays)."""
    for i in range(h.shape[0]):
        _reset_row(drh, h, zr, dh_new, dG, dh, i)


#: each kernel by name: ``(parallel, serial)``, for
#: :func:`minigraphrec.ops.session.gru_cell_forward` and ``gru_cell_backward``, which take
#: the serial one for arrays of fewer than :data:`PARALLEL_FROM` elements
GRU_KERNELS = {
    "gru_update_rows": (gru_update_rows, gru_update_rows_serial),
    "gru_backward_gates_rows": (gru_backward_gates_rows, gru_backward_gates_rows_serial),
    "gru_backward_reset_rows": (gru_backward_reset_rows, gru_backward_reset_rows_serial),
}
