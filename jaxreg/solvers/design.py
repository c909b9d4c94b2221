"""Designs: the ``X`` a solver reads, dense or sparse, centred implicitly.

A design is a pytree with the ``Design`` contract, the only way a solver
touches ``X``:

- ``n_samples``, ``n_features``, ``dtype``;
- ``matvec(w) = X̃w`` (``(n,)``) and ``rmatvec(r) = X̃ᵀr`` (``(d,)``);
- ``columns(idx)``: the columns ``idx`` of ``X̃`` as a dense ``(K, n)`` array
  (a working set), and ``gram(idx, h) = X̃_idxᵀ diag(h) X̃_idx`` their Gram
  matrix at weights ``h`` (``idx`` of any shape, read in raveled order;
  the block solver passes ``(groups, group size)``);
- ``xbar`` (``(d,)``) and ``colsq = Σᵢ aᵢ X̃ᵢⱼ²`` (``(d,)``, ``a`` the
  normalized sample weights);
- ``centred()``: a design with the same products, each a product with one
  stored matrix up to ordinary roundoff (conjugate gradients need
  ``rmatvec(matvec(·))`` to be one symmetric operator): the dense design
  stores ``X̃`` (``xbar = 0`` then, one more ``(d, n)`` array), as the
  rank-one correction cancels catastrophically on columns with large
  offsets; the others return themselves;
- ``reweighted(a, center)``: the same ``X`` with the moments of other
  weights (cross-validation folds are weights with zeros on held-out rows);
  it changes ``xbar`` and ``colsq`` only, which the fold drivers compute
  once per fold and reattach (:func:`jaxreg.solvers.path.fold_moments`);
- the working-set model of the prox-Newton CD solver
  (:mod:`jaxreg.solvers.cd`): ``ws_block(ws, intercept)`` prepares the
  columns ``ws`` (and a column of ones for a free intercept) once per working
  set, ``ws_model(block, h)`` the quadratic model ``½ δᵀHδ`` with ``H =
  X̃_Wᵀ diag(h) X̃_W`` at Hessian weights ``h`` (see :class:`GramModel` and
  :class:`ResidualModel` for the model contract); ``ws_gram(K)`` says
  whether the model on ``K`` columns is a Gram matrix (which the solver
  caches and updates across outer iterations for least squares), and
  ``ws_epoch_cost(K)`` / ``pass_cost`` the cost of one model epoch on ``K``
  columns and of one product with ``X``, in dense multiply-adds, which set
  how tightly a working set is solved (:func:`jaxreg.solvers.cd.tight_epochs`).

``X̃ = X - 1 xbarᵀ`` with ``xbar = Xᵀa`` (the weighted column means) when the
intercept is eliminated by centring, as scikit-learn fits it, and ``X̃ = X``
(``xbar = 0``) otherwise. Centring is never applied to ``X`` itself: it is the
rank-one correction in the products, so a sparse ``X`` stays sparse.

- :class:`DenseDesign`: ``X`` transposed, ``(d, n)``, so that ``X̃ᵀr`` is a
  row-major product and a working set is a contiguous row gather. A
  row-sharded ``jax.Array`` stays sharded (XLA inserts the reductions). Its
  working-set model is the ``K x K`` Gram matrix (:class:`GramModel`): a
  coordinate step costs ``O(K)``.
- :class:`MultiTaskDesign`: ``X̃ ⊗ I_T`` for ``T`` tasks sharing a dense
  ``X`` (the multi-task models' stacked design), never formed: products are
  ``(n, d) x (d, T)`` matrix products; centred per task.
- :class:`SparseDesign`: ``scipy.sparse`` (any format) or
  ``jax.experimental.sparse.BCOO``, kept as column-sorted coordinates
  (``data``, ``rows``, ``cols``, and the column pointers ``indptr``):
  products are segment sums, ``O(nnz)`` time and memory. Its working-set
  model works on residuals (:class:`ResidualModel`): a coordinate step reads
  and updates only that column's nonzeros, so an epoch costs ``nnz(X_W)``,
  never ``K·n`` or ``K²``, and no ``(K, n)`` block is formed; only a small
  working set (``K·n <= 2¹⁸``) is densified and uses the Gram matrix, which
  is faster there (``columns(idx)`` densifies, for the block solvers too).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._pytree import register_dataclass

__all__ = [
    "DenseDesign",
    "GramModel",
    "MultiTaskDesign",
    "ResidualModel",
    "SparseDesign",
    "as_design",
    "centred_moments",
    "exact_mean",
    "is_sparse",
]


def is_sparse(X) -> bool:
    """``X`` is a ``scipy.sparse`` matrix/array or a ``BCOO``."""
    if type(X).__module__.startswith("scipy.sparse"):
        return True
    return type(X).__name__ == "BCOO"


# a multiply-add on a stored nonzero (gathered, then scattered or summed by
# segment) costs about as much as 16 dense ones on a CPU: a TF-IDF Lasso fit
# (1790 x 30474) solved in 1 outer iteration instead of 3 once counted so
SPARSE_ENTRY_COST = 16


@functools.partial(
    register_dataclass,
    data_fields=["XT", "xbar", "colsq"],
    meta_fields=[],
)
@dataclasses.dataclass(frozen=True)
class DenseDesign:
    """Dense ``X`` stored transposed; see the module docstring."""

    XT: jax.Array  # (d, n)
    xbar: jax.Array  # (d,)
    colsq: jax.Array  # (d,)

    @property
    def n_samples(self):
        return self.XT.shape[1]

    @property
    def n_features(self):
        return self.XT.shape[0]

    @property
    def dtype(self):
        return self.XT.dtype

    def matvec(self, w):
        return w @ self.XT - jnp.dot(self.xbar, w)

    def rmatvec(self, r):
        return self.XT @ r - self.xbar * jnp.sum(r)

    def columns(self, idx):
        return self.XT[idx] - self.xbar[idx][:, None]

    def gram(self, idx, h):
        return _columns_gram(self, idx, h)

    def centred(self):
        """``X̃`` formed (traceable). ``X̃w = Xw - xbarᵀw`` in float32 on
        columns offset by 1e3 from a spread of 0.05 (diabetes + 1e3) loses
        all digits, differently in ``matvec`` and ``rmatvec``: ridge's
        conjugate gradients on that operator ended at R² = -2e6."""
        XT = self.XT - self.xbar[:, None]
        return dataclasses.replace(self, XT=XT, xbar=jnp.zeros_like(self.xbar))

    def reweighted(self, a, center):
        """The same ``X`` with the moments of weights ``a`` (traceable)."""
        xbar, colsq = self.moments(self.XT, a, center)
        return dataclasses.replace(self, xbar=xbar, colsq=colsq)

    def ws_gram(self, K):
        return True

    def ws_block(self, ws, intercept):
        """The centred columns ``ws`` as a ``(K, n)`` block (with a row of
        ones appended for a free intercept)."""
        return _dense_block(self, ws, intercept)

    def ws_model(self, block, h, H=None):
        """:class:`GramModel` of ``block`` at weights ``h`` (``H`` given: a
        cached Gram matrix of the same block)."""
        return GramModel.of(block, h, H)

    def ws_epoch_cost(self, K):
        return K * K

    @property
    def pass_cost(self):
        return self.n_samples * self.n_features

    @staticmethod
    def moments(XT, a, center):
        """``(xbar, colsq)`` of a transposed dense ``X`` for weights ``a``."""
        if not center:
            sq = jnp.sum(XT * XT * a[None, :], axis=1)  # one fused pass, no copy
            return jnp.zeros(XT.shape[0], XT.dtype), sq
        x0 = XT[:, 0]
        # one fused pass (XLA:CPU keeps no copy of X for a sum with a single
        # consumer), as Σ a x² was; and the product with a
        spread = jnp.sum(jnp.square(XT - x0[:, None]) * a[None, :], axis=1)
        return centred_moments(x0, XT @ a, spread, 1.0)


@functools.partial(
    register_dataclass,
    data_fields=["data", "rows", "cols", "indptr", "xbar", "colsq"],
    meta_fields=["shape", "chunk", "max_chunks", "gram_max"],
)
@dataclasses.dataclass(frozen=True)
class SparseDesign:
    """Sparse ``X`` as column-sorted coordinates; see the module docstring.

    ``chunk`` (a power of two) is how many nonzeros of a column a coordinate
    step of the working-set model reads at once; ``max_chunks`` the most
    chunks any column needs (1: every column fits in one, no inner loop);
    working sets of ``K`` columns with ``K·n <= gram_max`` are densified
    (see ``ws_gram``).
    """

    data: jax.Array  # (nnz,)
    rows: jax.Array  # (nnz,) int32
    cols: jax.Array  # (nnz,) int32, sorted
    indptr: jax.Array  # (d + 1,) int32: column j is [indptr[j], indptr[j + 1])
    xbar: jax.Array  # (d,)
    colsq: jax.Array  # (d,)
    shape: tuple
    chunk: int = 8
    max_chunks: int = 1
    gram_max: int = 1 << 18

    @property
    def n_samples(self):
        return self.shape[0]

    @property
    def n_features(self):
        return self.shape[1]

    @property
    def dtype(self):
        return self.data.dtype

    def matvec(self, w):
        Xw = jax.ops.segment_sum(self.data * w[self.cols], self.rows, self.shape[0])
        return Xw - jnp.dot(self.xbar, w)

    def rmatvec(self, r):
        XTr = jax.ops.segment_sum(
            self.data * r[self.rows],
            self.cols,
            self.shape[1],
            indices_are_sorted=True,
        )
        return XTr - self.xbar * jnp.sum(r)

    def columns(self, idx):
        K = idx.shape[0]
        slot = (
            jnp.full((self.shape[1],), K, jnp.int32)
            .at[idx]
            .set(jnp.arange(K, dtype=jnp.int32))
        )
        block = jnp.zeros((K, self.shape[0]), self.dtype)
        block = block.at[slot[self.cols], self.rows].add(self.data, mode="drop")
        return block - self.xbar[idx][:, None]

    def gram(self, idx, h):
        return _columns_gram(self, idx, h)

    def centred(self):
        """Itself: a sparse ``X`` stays sparse."""
        return self

    def reweighted(self, a, center):
        """The same ``X`` with the moments of weights ``a`` (traceable)."""
        xbar, colsq = self.moments(
            self.data, self.rows, self.cols, self.shape[1], a, center
        )
        return dataclasses.replace(self, xbar=xbar, colsq=colsq)

    def ws_gram(self, K):
        """Small working sets (``K·n <= gram_max``, ``2¹⁸`` by default) are
        densified and use the Gram matrix: forming it costs less than the
        slower steps of the residual form (0.75 µs vs 0.1 µs per coordinate
        step on CPU)."""
        return K * self.n_samples <= self.gram_max

    def ws_block(self, ws, intercept):
        """The nonzeros of the columns ``ws`` gathered into a compact
        column-sorted block (``min(nnz, K·max_chunks·chunk)`` entries, padded
        by one chunk so that every chunk read stays in bounds), their
        centring offsets ``-xbar``, and a column of ones (no nonzeros, offset
        1) for a free intercept. Dense columns as :class:`DenseDesign`'s when
        ``ws_gram(K)``."""
        if self.ws_gram(ws.shape[0]):
            return _dense_block(self, ws, intercept)
        K = ws.shape[0]
        C = self.chunk
        nnz = self.data.shape[0]
        cap = min(nnz, K * self.max_chunks * C)
        first = self.indptr[ws]
        length = self.indptr[ws + 1] - first
        end = jnp.cumsum(length)
        start = end - length  # in the block
        p = jnp.arange(cap + C, dtype=end.dtype)
        col = jnp.searchsorted(end, p, side="right")  # K: past the last column
        inside = col < K
        col_c = jnp.minimum(col, K - 1)
        src = jnp.where(inside, first[col_c] + p - start[col_c], 0)
        data = jnp.where(inside, self.data[src], 0)
        rows = jnp.where(inside, self.rows[src], 0)
        off = -self.xbar[ws]
        k = K + 1 if intercept else K
        if intercept:
            start = jnp.concatenate([start, jnp.zeros((1,), start.dtype)])
            length = jnp.concatenate([length, jnp.zeros((1,), length.dtype)])
            off = jnp.concatenate([off, jnp.ones((1,), off.dtype)])
        cols = jnp.where(inside, col, k)  # k: dropped by the segment sums
        return _SparseBlock(start, length, off, data, rows, cols)

    def ws_model(self, block, h, H=None):
        """:class:`ResidualModel` of ``block`` at weights ``h``: two segment
        sums over the block's nonzeros (``Σᵢ hᵢxᵢⱼ`` and ``Σᵢ hᵢxᵢⱼ²``), a
        :class:`GramModel` for a dense block."""
        if not isinstance(block, _SparseBlock):
            return GramModel.of(block, h, H)
        k = block.off.shape[0]
        data_h = block.data * h[block.rows]
        hx = jax.ops.segment_sum(data_h, block.cols, k, indices_are_sorted=True)
        hsq = jax.ops.segment_sum(
            data_h * block.data, block.cols, k, indices_are_sorted=True
        )
        htot = jnp.sum(h)
        off = block.off
        hdiag = jnp.maximum(hsq + 2 * off * hx + off * off * htot, 0.0)
        return ResidualModel(self, block, h, data_h, hx, htot, hdiag)

    def ws_epoch_cost(self, K):
        if self.ws_gram(K):
            return K * K
        return SPARSE_ENTRY_COST * K * self.chunk

    @property
    def pass_cost(self):
        return SPARSE_ENTRY_COST * self.data.shape[0]

    @staticmethod
    def moments(data, rows, cols, d, a, center):
        def colsum(values):
            return jax.ops.segment_sum(values, cols, d, indices_are_sorted=True)

        ar = a[rows]
        if not center:
            return jnp.zeros((d,), data.dtype), colsum(ar * data * data)
        x0 = colsum(jnp.where(rows == 0, data, 0.0))  # X[0]: one entry or none
        # the weight of the rows a column does not store (where it is 0):
        # exactly 0 when it stores every weighted row
        full = colsum((ar > 0).astype(jnp.int32)) == jnp.sum(a > 0)
        unstored = jnp.where(full, 0.0, 1.0 - colsum(ar))
        dev = data - x0[cols]
        spread = colsum(ar * jnp.square(dev)) + unstored * x0 * x0
        # the mean from the deviations too: a segment sum of values near
        # 1e5 would lose what the shift saved (7 % of a 1e5 ± 1 variance)
        xbar = x0 + (colsum(ar * dev) - unstored * x0)
        return centred_moments(x0, xbar, spread, 1.0)


@functools.partial(
    register_dataclass,
    data_fields=["XT", "xbar", "colsq"],
    meta_fields=["n_tasks", "ridge"],
)
@dataclasses.dataclass(frozen=True)
class MultiTaskDesign:
    """``X̃ ⊗ I_T`` (optionally over ``I_{dT}``): ``T`` tasks sharing a dense
    ``X``, as one stacked single-output design, never formed.

    Row ``i·T + t`` is sample ``i`` of task ``t`` and column ``j·T + t`` is
    coefficient ``W[t, j]``, so ``matvec(w) = vec(X̃ W)`` with ``W =
    w.reshape(d, T)`` (one ``(n, d) x (d, T)`` product) and the ``T``
    columns of feature ``j`` are a group (the multi-task group lasso of
    :mod:`jaxreg._multitask`). With ``ridge`` the ``d·T`` rows of the
    identity follow (row ``n·T + k`` reads coefficient ``k``): with
    weight ``μ`` each (target 0) they add ``μ/2 ||w||²`` to the
    least-squares datafit ``½ Σᵢ aᵢ rᵢ²``, an elastic-net term whose
    strength lives in the weights, not the design.
    Centred (``reweighted(a, center=True)``), task ``t``'s rows read ``X -
    1 x̄ₜᵀ`` with ``x̄ₜ`` the mean of ``X``'s rows at the weights of that
    task's rows (the ridge rows are never centred): ``xbar[j·T + t] =
    x̄ₜⱼ``. The working-set model is the Gram matrix of :meth:`columns`, as
    for :class:`DenseDesign`, formed task by task for whole features
    (:meth:`gram`).
    """

    XT: jax.Array  # (d, n)
    xbar: jax.Array  # (d·T,)
    colsq: jax.Array  # (d·T,)
    n_tasks: int
    ridge: bool

    @classmethod
    def of(cls, XT, n_tasks, ridge, a, center=False):
        """The design of ``XT`` (``(d, n)`` on the device) for weights ``a``."""
        d = XT.shape[0]
        zeros = jnp.zeros((d * n_tasks,), XT.dtype)
        return cls(XT, zeros, zeros, n_tasks, ridge).reweighted(a, center)

    @property
    def n_samples(self):
        n_ridge = self.n_features if self.ridge else 0
        return self.XT.shape[1] * self.n_tasks + n_ridge

    @property
    def n_features(self):
        return self.XT.shape[0] * self.n_tasks

    @property
    def dtype(self):
        return self.XT.dtype

    def _split(self, r):
        """``r`` (``(n_samples,)``) as the data rows ``(n, T)`` and the rest."""
        nT = self.XT.shape[1] * self.n_tasks
        return r[:nT].reshape(-1, self.n_tasks), r[nT:]

    def matvec(self, w):
        W = w.reshape(-1, self.n_tasks)  # (d, T)
        xbar = self.xbar.reshape(W.shape)
        U = (W.T @ self.XT).T - jnp.sum(xbar * W, axis=0)[None, :]  # vec(X̃ W)
        return jnp.concatenate([U.ravel(), w]) if self.ridge else U.ravel()

    def rmatvec(self, r):
        R, rest = self._split(r)
        V = self.XT @ R - self.xbar.reshape(-1, self.n_tasks) * jnp.sum(R, axis=0)[None]
        return V.ravel() + rest if self.ridge else V.ravel()

    def columns(self, idx):
        T = self.n_tasks
        task = jnp.arange(T)[None, :] == (idx % T)[:, None]  # (K, T)
        centred = self.XT[idx // T] - self.xbar[idx][:, None]
        cols = (centred[:, :, None] * task[:, None, :]).reshape(idx.shape[0], -1)
        if not self.ridge:
            return cols
        unit = jnp.arange(self.n_features)[None, :] == idx[:, None]
        return jnp.concatenate([cols, unit.astype(cols.dtype)], axis=1)

    def gram(self, idx, h):
        """``idx`` of shape ``(K, T)``, each row the ``T`` columns of one
        feature in task order (the multi-task groups), costs ``T`` Gram
        matrices of ``K`` features, ``T·K²n``, where the stacked columns
        cost ``(KT)²(nT + dT)``: ``H[(j, t), (k, s)] = [t = s] Σᵢ hᵢₜ (xᵢⱼ -
        x̄ₜⱼ)(xᵢₖ - x̄ₜₖ)`` from the centred columns (the centring as a
        rank-two correction of ``Σᵢ hᵢₜ xᵢⱼ xᵢₖ`` cancelled catastrophically
        for columns far from 0: a float32 fit on features shifted by 500
        returned NaN coefficients), plus ``h`` on the diagonal from the
        ridge rows. Other shapes: the stacked columns' Gram."""
        T = self.n_tasks
        if idx.ndim != 2 or idx.shape[1] != T:
            return _columns_gram(self, idx, h)
        K = idx.shape[0]
        A, rest = self._split(h)  # (n, T)
        Xc = self.XT[idx[:, 0] // T][None] - self.xbar[idx].T[:, :, None]  # (T, K, n)
        B = Xc * jnp.sqrt(A.T)[:, None, :]  # h >= 0: one buffer, G exactly symmetric
        G = B @ B.transpose(0, 2, 1)  # (T, K, K)
        eye = jnp.eye(T, dtype=G.dtype)
        H = (G.transpose(1, 0, 2)[:, :, :, None] * eye[None, :, None, :]).reshape(
            K * T, K * T
        )
        if self.ridge:
            H = H + jnp.diag(rest[idx.ravel()])
        return H

    def centred(self):
        """Itself (no iterative solver reads it)."""
        return self

    def reweighted(self, a, center):
        """The same design with the moments of weights ``a`` (length
        ``n_samples``; traceable): centred with each task's weighted means
        when ``center``."""
        A, rest = self._split(a)  # (n, T)
        if center:
            total = jnp.sum(A, axis=0)[None]
            xbar = (self.XT @ A) / jnp.where(total > 0, total, 1.0)
            x0 = self.XT[:, :1]
            spread = jnp.square(self.XT - x0) @ A  # (d, T), as (XT * XT) @ A was
            xbar, sq = centred_moments(x0, xbar, spread, total)
        else:
            sq = (self.XT * self.XT) @ A  # (d, T)
            xbar = jnp.zeros_like(sq)
        colsq = sq.ravel() + rest if self.ridge else sq.ravel()
        return dataclasses.replace(self, xbar=xbar.ravel(), colsq=colsq)

    def ws_gram(self, K):
        return True

    def ws_block(self, ws, intercept):
        return _dense_block(self, ws, intercept)

    def ws_model(self, block, h, H=None):
        return GramModel.of(block, h, H)

    def ws_epoch_cost(self, K):
        return K * K

    @property
    def pass_cost(self):
        return self.XT.size * self.n_tasks


def exact_mean(a, Y):
    """``(mean, constant)``: the weighted means ``Y @ a`` of the rows of ``Y``
    (``(..., n)``; weights ``a`` summing to 1) and which rows are constant on
    the weighted entries (``a > 0``), whose mean is then that value exactly
    (the targets' centring: ``Y @ a`` misses a constant ``y`` by an ulp,
    which left a residual that the solvers fitted, with a gap above
    ``tol·P(0) ≈ 0`` and a ``ConvergenceWarning``). The correction is exact
    (Sterbenz: ``first - Y @ a`` is) and has no derivative: the mean's
    derivative stays ``a``. For vectors: on a matrix the comparison is not
    fused on CPU (a boolean copy of it); the columns of ``X`` use
    :func:`centred_moments`."""
    first = Y[..., jnp.argmax(a > 0)]
    unweighted = jnp.broadcast_to(a <= 0, Y.shape)
    constant = jnp.all((Y == first[..., None]) | unweighted, axis=-1)
    mean = Y @ a
    return mean + lax.stop_gradient(jnp.where(constant, first - mean, 0.0)), constant


def centred_moments(x0, xbar, spread, total):
    """``(xbar, colsq)`` of columns centred at their weighted means ``xbar``,
    from their weighted spread about ``x0`` (each column's entry in the
    first row), ``spread = Σᵢ aᵢ(xᵢ - x0)²``, and the weights' ``total``:
    ``colsq = spread - total·(xbar - x0)²``.

    A column with ``spread == 0`` (every weighted entry equals ``x0``) is
    centred exactly: ``xbar = x0`` and ``colsq = 0``. Roundoff in ``xbar``
    left such a column tiny and collinear with the intercept, and an
    unpenalized fit scaled it without bound (``alpha=0``: coefficient
    -2.6e5 where scikit-learn, centring ``X`` itself, gets 0). The
    correction is exact (Sterbenz: ``x0 - xbar`` is) and has no derivative,
    so the mean's stays ``a``. The shift by a value the column takes also
    spares the variance most of ``Σ a x² - x̄²``'s cancellation: a float32
    column at 1e5 ± 1 keeps it to about 1 % (it was lost entirely).
    """
    constant = spread == 0
    xbar = xbar + lax.stop_gradient(jnp.where(constant, x0 - xbar, 0.0))
    return xbar, jnp.maximum(spread - total * jnp.square(xbar - x0), 0.0)


def _columns_gram(design, idx, h):
    cols = design.columns(idx.ravel())
    return (cols * h[None, :]) @ cols.T


def _dense_block(design, ws, intercept):
    cols = design.columns(ws)
    if intercept:
        cols = jnp.concatenate([cols, jnp.ones((1, design.n_samples), design.dtype)])
    return cols


def _chunking(counts):
    """``(chunk, max_chunks)`` for columns of ``counts`` nonzeros.

    A coordinate step costs about one gather and one scatter whatever their
    size up to ~64 entries, while a column that needs more than one chunk
    adds a loop (1.2 µs instead of 0.75 µs per step, measured on CPU): every
    column fits in one chunk when the longest has at most 64 nonzeros;
    otherwise the chunk is the power of two (16 to 256) covering 90 % of the
    columns, and longer columns loop.
    """
    if counts.size == 0 or counts.max() == 0:
        return 8, 1
    top = int(counts.max())
    if top <= 64:
        return max(8, 1 << (top - 1).bit_length()), 1
    p90 = int(np.ceil(np.quantile(counts[counts > 0], 0.9)))
    chunk = min(max(16, 1 << (p90 - 1).bit_length()), 256)
    return chunk, -(-top // chunk)


class _SparseBlock(NamedTuple):
    """Working-set columns of a :class:`SparseDesign` (see ``ws_block``)."""

    start: jax.Array  # (k,) first nonzero of each column (k = K, or K + 1)
    length: jax.Array  # (k,) its number of nonzeros (0 for the intercept)
    off: jax.Array  # (k,) x̃ⱼ = xⱼ + offⱼ·1: -xbarⱼ, 1 for the intercept
    data: jax.Array  # (cap + chunk,) the columns' nonzeros, zero-padded
    rows: jax.Array  # (cap + chunk,)
    cols: jax.Array  # (cap + chunk,) position in ws (k: padding)


class GramModel(NamedTuple):
    """Working-set model of a dense design: ``H = X̃_Wᵀ diag(h) X̃_W``, formed.

    The model contract (what :func:`jaxreg.solvers.cd._model_cd` and the
    prox-Newton step call) works on a *carry* that holds the coefficients
    ``x`` and encodes ``δ = x - x₀`` (the step from the point where the model
    was formed) through a linear map, so that Anderson extrapolation may
    combine carries:

    - ``hdiag``: ``diag(H)`` (``(k,)``);
    - ``start(x₀)``: the carry at ``δ = 0``; ``coefs(carry)``: ``x``;
    - ``coord_read(carry, j)``: ``(xⱼ, (Hδ)ⱼ)``; ``coord_set(carry, j, new,
      t)``: the carry after ``xⱼ ← new`` (``t = new - xⱼ``);
    - ``quad(carry, δ)``: ``δᵀHδ``; ``metric(dcarries)``: the matrix
      ``δᵢᵀHδⱼ`` of a few differences of carries (symmetrized);
    - ``hdelta(carry)``: ``Hδ`` (``(k,)``); ``predictor(carry, δ)``: ``X̃_Wδ``
      (``(n,)``);
    - ``rmatvec(r) = X̃_Wᵀr`` from scratch;
    - ``newton(carry, g, pen_value, support, max_iter)``: the Newton step
      on ``q`` (at most ``max_iter`` conjugate-gradient steps)
      restricted to ``support`` (``(k,)``), and ``move(carry, step)``: the
      carry after ``x += step``; ``newton`` is ``None`` for a model that
      does not form ``H`` (then CD runs without it).

    Here the carry is ``(x, Hδ)``: a coordinate step costs ``O(k)``.
    """

    cols: jax.Array  # (k, n) centred columns (None when only CD is run)
    H: jax.Array  # (k, k)

    @classmethod
    def of(cls, cols, h, H=None):
        """The model of ``cols`` at weights ``h`` (``H``: already formed)."""
        if H is None:
            H = (cols * h[None, :]) @ cols.T
        return cls(cols, H)

    @property
    def hdiag(self):
        return jnp.diagonal(self.H)

    def start(self, x):
        return x, jnp.zeros_like(x)

    def coefs(self, carry):
        return carry[0]

    def coord_read(self, carry, j):
        return carry[0][j], carry[1][j]

    def coord_set(self, carry, j, new, t):
        x, hd = carry
        return x.at[j].set(new), hd + self.H[j] * t

    def quad(self, carry, delta):
        return jnp.dot(delta, carry[1])

    def metric(self, dcarries):
        dx, dhd = dcarries
        return 0.5 * (dx @ dhd.T + dhd @ dx.T)

    def hdelta(self, carry):
        return carry[1]

    def predictor(self, carry, delta):
        del carry
        return delta @ self.cols

    def rmatvec(self, r):
        return self.cols @ r

    def newton(self, carry, g, pen_value, support, max_iter):
        """The Newton step ``s`` on ``q(x) = -gᵀδ + ½δᵀHδ + pen_value(x)``
        over the coordinates in ``support`` (bool ``(k,)``; ``s`` is 0
        elsewhere), where ``pen_value`` is smooth (away from the kinks of an
        L1 or group norm): ``(H + ∇²pen)_SS s_S = -∇q_S``, by at most
        ``max_iter`` conjugate-gradient steps (each one ``k x k`` product and
        a Hessian-vector product of ``pen_value`` by autodiff, so any
        penalty works), preconditioned by ``diag(H)``: CG then, like CD,
        does not see the scales of the columns (breast cancer unscaled, L1
        logistic at C = 10: plain CG failed on a condition number ~1e13, and
        the float32 fit ran its epoch budget, 10 s instead of 0.16 s). For
        a quadratic datafit and an L1 / elastic-net penalty, ``x + s`` is
        the minimizer of ``q`` on the face of the current signs."""
        x, hd = carry
        grad_pen = jax.grad(pen_value)

        def hvp(v):
            v = jnp.where(support, v, 0.0)
            curv = jax.jvp(grad_pen, (x,), (v,))[1]
            return jnp.where(support, self.H @ v + curv, v)

        rhs = jnp.where(support, g - hd - grad_pen(x), 0.0)
        diag = jnp.where(support & (self.hdiag > 0), self.hdiag, 1.0)
        step = _conjugate_gradient(hvp, rhs, max_iter, diag)
        return jnp.where(support, step, 0.0)

    def move(self, carry, step):
        x, hd = carry
        return x + step, hd + self.H @ step


def _conjugate_gradient(matvec, b, max_iter, diag):
    """``A⁻¹b`` for a symmetric ``A`` (``matvec(v) = Av``) by at most
    ``max_iter`` conjugate-gradient steps preconditioned by the positive
    vector ``diag`` (Jacobi), stopping at ``rᵀD⁻¹r <= ε² bᵀD⁻¹b``
    or at a direction of non-positive curvature (``A`` indefinite: a
    non-convex penalty), where the iterate so far is returned. A plain loop:
    ``jax.scipy.sparse.linalg.cg`` is a ``custom_linear_solve``, which
    compiles the product several times."""
    eps = jnp.finfo(b.dtype).eps
    bb = jnp.dot(b, b / diag)

    def cond(c):
        *_, rz, i, ok = c
        return ok & (rz > eps * eps * bb) & (i < max_iter)

    def body(c):
        x, r, p, rz, i, _ = c
        Ap = matvec(p)
        pAp = jnp.dot(p, Ap)
        ok = pAp > 0
        alpha = jnp.where(ok, rz / jnp.where(ok, pAp, 1.0), 0.0)
        x, r = x + alpha * p, r - alpha * Ap
        z = r / diag
        rz_new = jnp.dot(r, z)
        return x, r, z + (rz_new / rz) * p, rz_new, i + 1, ok

    init = (jnp.zeros_like(b), b, b / diag, bb, 0, jnp.asarray(True))
    return lax.while_loop(cond, body, init)[0]


class ResidualModel(NamedTuple):
    """Working-set model of a sparse design, in residual form (the contract
    is :class:`GramModel`'s).

    The carry is one vector ``[s, x, S, c]`` (``n + k + 2``): ``X̃_Wδ = s +
    c·1`` (``s`` supported on the working set's nonzero rows, ``c`` the
    centring and intercept part), the coefficients ``x`` and ``S = hᵀs``.
    With ``x̃ⱼ = xⱼ + offⱼ·1``, ``hxⱼ = hᵀxⱼ`` and ``Σh``::

        (Hδ)ⱼ = xⱼᵀ(h ⊙ s) + c·hxⱼ + offⱼ·(S + c·Σh)
        xⱼ += t:  s += t·xⱼ,  S += t·hxⱼ,  c += t·offⱼ

    so a coordinate step reads and writes only column ``j``'s nonzeros, a
    chunk of ``design.chunk`` at a time: an epoch costs ``nnz(X_W)``. One
    vector, updated by one scatter per step, because XLA:CPU copies a loop's
    carried arrays when two of them are updated in place in one step (10 µs
    instead of 0.2 µs per step on a 5000 x 20000 design).
    """

    design: SparseDesign
    block: _SparseBlock
    h: jax.Array  # (n,) Hessian weights
    data_h: jax.Array  # (cap + chunk,) h[rows] * data of the block
    hx: jax.Array  # (k,)
    htot: jax.Array  # ()
    hdiag: jax.Array  # (k,)

    newton = None  # H is never formed

    def start(self, x):
        z = jnp.zeros((2,), x.dtype)
        return jnp.concatenate([jnp.zeros_like(self.h), x, z])

    def _split(self, carry):
        n, k = self.h.shape[0], self.hdiag.shape[0]
        return (
            carry[..., :n],
            carry[..., n : n + k],
            carry[..., n + k],
            carry[..., n + k + 1],
        )

    def coefs(self, carry):
        return self._split(carry)[1]

    def _chunk(self, j, i):
        C, b = self.design.chunk, self.block
        at = b.start[j] + i * C
        rows = lax.dynamic_slice_in_dim(b.rows, at, C)
        mask = i * C + jnp.arange(C) < b.length[j]
        return at, rows, mask

    def _rest(self, j):
        """Chunks of column ``j`` after its first (usually none)."""
        C = self.design.chunk
        return 1, (self.block.length[j] + C - 1) // C

    def coord_read(self, carry, j):
        C = self.design.chunk
        n, k = self.h.shape[0], self.hdiag.shape[0]
        scalars = jnp.stack([n + j, n + k, n + k + 1])

        def vals(i):
            at, rows, mask = self._chunk(j, i)
            return rows, jnp.where(
                mask, lax.dynamic_slice_in_dim(self.data_h, at, C), 0
            )

        # the first chunk and the scalars in one gather (see the class doc)
        rows, v = vals(0)
        got = carry[jnp.concatenate([rows, scalars])]
        xs = jnp.dot(v, got[:C])
        xj, S, c = got[C], got[C + 1], got[C + 2]
        if self.design.max_chunks > 1:

            def dot(i, tot):
                rows, v = vals(i)
                return tot + jnp.dot(v, carry[rows])

            xs = lax.fori_loop(*self._rest(j), dot, xs)
        hd = xs + c * self.hx[j] + self.block.off[j] * (S + c * self.htot)
        return xj, hd

    def coord_set(self, carry, j, new, t):
        del new
        C = self.design.chunk
        n, k = self.h.shape[0], self.hdiag.shape[0]

        def updates(i):
            at, rows, mask = self._chunk(j, i)
            data = lax.dynamic_slice_in_dim(self.block.data, at, C)
            return rows, jnp.where(mask, t * data, 0)

        # the first chunk and the scalars in one scatter (see the class doc)
        rows, v = updates(0)
        rows = jnp.concatenate([rows, jnp.stack([n + j, n + k, n + k + 1])])
        v = jnp.concatenate(
            [v, t * jnp.stack([jnp.ones_like(t), self.hx[j], self.block.off[j]])]
        )
        carry = carry.at[rows].add(v, mode="promise_in_bounds")
        if self.design.max_chunks > 1:

            def add(i, carry):
                rows, v = updates(i)
                return carry.at[rows].add(v, mode="promise_in_bounds")

            carry = lax.fori_loop(*self._rest(j), add, carry)
        return carry

    def _predict(self, carry):
        s, _, _, c = self._split(carry)
        return s + c[..., None]

    def quad(self, carry, delta):
        del delta
        p = self._predict(carry)
        return jnp.sum(self.h * p * p)

    def metric(self, dcarries):
        ds = self._predict(dcarries)
        return (ds * self.h[None, :]) @ ds.T

    def hdelta(self, carry):
        return self.rmatvec(self.h * self._predict(carry))

    def predictor(self, carry, delta):
        del delta
        return self._predict(carry)

    def rmatvec(self, r):
        b = self.block
        k = b.off.shape[0]
        xr = jax.ops.segment_sum(b.data * r[b.rows], b.cols, k, indices_are_sorted=True)
        return xr + b.off * jnp.sum(r)


def _sparse_coordinates(X):
    """``(data, rows, cols, shape)`` of a sparse ``X``, sorted by column."""
    if type(X).__name__ == "BCOO":
        idx = np.asarray(X.indices)
        data, rows, cols = np.asarray(X.data), idx[:, 0], idx[:, 1]
        order = np.lexsort((rows, cols))
        data, rows, cols = data[order], rows[order], cols[order]
    else:
        import scipy.sparse as sp

        csc = sp.csc_matrix(X)
        csc.sum_duplicates()
        data, rows = csc.data, csc.indices
        cols = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
    return data, rows.astype(np.int32), cols.astype(np.int32), tuple(X.shape)


def _checked(moments):
    # a squared column norm is finite iff the column is, barring overflow
    # and a constant infinite column (its mean is not): the flag costs
    # nothing beside the pass over X that computes them
    xbar, colsq = moments
    return xbar, colsq, jnp.all(jnp.isfinite(colsq)) & jnp.all(jnp.isfinite(xbar))


@functools.partial(jax.jit, static_argnames="center")
def _dense_moments(XT, a, center):
    return _checked(DenseDesign.moments(XT, a, center))


@functools.partial(jax.jit, static_argnames=("d", "center"))
def _sparse_moments(data, rows, cols, a, d, center):
    return _checked(SparseDesign.moments(data, rows, cols, d, a, center))


def as_design(X, a, *, center, dtype, to_device):
    """The design of ``X`` (checked by the caller) for normalized weights ``a``.

    Raises ``ValueError`` when ``X`` holds NaN/Inf, or when a column's squared
    norm overflows ``dtype`` (e.g. entries ~1e20 in float32).
    """
    a = jnp.asarray(a, dtype)
    if is_sparse(X):
        entries, rows, cols, shape = _sparse_coordinates(X)
        data = jnp.asarray(entries, dtype)
        counts = np.bincount(cols, minlength=shape[1])
        indptr = jnp.asarray(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        chunk, max_chunks = _chunking(counts)
        rows, cols = jnp.asarray(rows), jnp.asarray(cols)
        xbar, colsq, finite = _sparse_moments(data, rows, cols, a, shape[1], center)
        if isinstance(finite, jax.core.Tracer):
            # staged into a caller's jit (a differentiable fit there): check
            # the entries on the host (an overflowing norm then gives inf)
            finite = np.all(np.isfinite(entries))
        design = SparseDesign(
            data, rows, cols, indptr, xbar, colsq, shape, chunk, max_chunks
        )
    else:
        if isinstance(X, jax.Array):
            XT = X.astype(dtype).T
        else:
            XT = to_device(np.asarray(X).T, dtype)
        xbar, colsq, finite = _dense_moments(XT, a, center)
        design = DenseDesign(XT, xbar, colsq)
        entries = XT
    if not bool(finite):
        if not np.all(np.isfinite(entries)):
            raise ValueError("X contains NaN or Inf")
        raise ValueError(
            f"X's squared column norms overflow {np.dtype(dtype).name}: rescale X "
            "(e.g. StandardScaler) or enable x64"
        )
    return design
