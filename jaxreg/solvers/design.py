"""Designs: the ``X`` a solver reads, dense or sparse, centred implicitly.

A design is a pytree with the ``Design`` contract, the only way a solver
touches ``X``:

- ``n_samples``, ``n_features``, ``dtype``;
- ``matvec(w) = X̃w`` (``(n,)``) and ``rmatvec(r) = X̃ᵀr`` (``(d,)``);
- ``columns(idx)``: the columns ``idx`` of ``X̃`` as a dense ``(K, n)`` array
  (a working set);
- ``xbar`` (``(d,)``) and ``colsq = Σᵢ aᵢ X̃ᵢⱼ²`` (``(d,)``, ``a`` the
  normalized sample weights);
- ``reweighted(a, center)``: the same ``X`` with the moments of other
  weights (cross-validation folds are weights with zeros on held-out rows).

``X̃ = X - 1 xbarᵀ`` with ``xbar = Xᵀa`` (the weighted column means) when the
intercept is eliminated by centring, as scikit-learn fits it, and ``X̃ = X``
(``xbar = 0``) otherwise. Centring is never applied to ``X`` itself: it is the
rank-one correction in the products, so a sparse ``X`` stays sparse.

- :class:`DenseDesign`: ``X`` transposed, ``(d, n)``, so that ``X̃ᵀr`` is a
  row-major product and a working set is a contiguous row gather. A
  row-sharded ``jax.Array`` stays sharded (XLA inserts the reductions).
- :class:`SparseDesign`: ``scipy.sparse`` (any format) or
  ``jax.experimental.sparse.BCOO``, kept as column-sorted coordinates
  (``data``, ``rows``, ``cols``): products are segment sums, ``O(nnz)`` time
  and memory; a working set is scattered into a dense ``(K, n)`` block.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DenseDesign", "SparseDesign", "as_design", "is_sparse"]


def is_sparse(X) -> bool:
    """``X`` is a ``scipy.sparse`` matrix/array or a ``BCOO``."""
    if type(X).__module__.startswith("scipy.sparse"):
        return True
    return type(X).__name__ == "BCOO"


@functools.partial(
    jax.tree_util.register_dataclass,
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

    def reweighted(self, a, center):
        """The same ``X`` with the moments of weights ``a`` (traceable)."""
        xbar, colsq = self.moments(self.XT, a, center)
        return dataclasses.replace(self, xbar=xbar, colsq=colsq)

    @staticmethod
    def moments(XT, a, center):
        """``(xbar, colsq)`` of a transposed dense ``X`` for weights ``a``."""
        sq = jnp.sum(XT * XT * a[None, :], axis=1)  # one fused pass, no XT*XT copy
        if not center:
            return jnp.zeros(XT.shape[0], XT.dtype), sq
        xbar = XT @ a
        return xbar, jnp.maximum(sq - xbar * xbar, 0.0)


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["data", "rows", "cols", "xbar", "colsq"],
    meta_fields=["shape"],
)
@dataclasses.dataclass(frozen=True)
class SparseDesign:
    """Sparse ``X`` as column-sorted coordinates; see the module docstring."""

    data: jax.Array  # (nnz,)
    rows: jax.Array  # (nnz,) int32
    cols: jax.Array  # (nnz,) int32, sorted
    xbar: jax.Array  # (d,)
    colsq: jax.Array  # (d,)
    shape: tuple

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

    def reweighted(self, a, center):
        """The same ``X`` with the moments of weights ``a`` (traceable)."""
        xbar, colsq = self.moments(
            self.data, self.rows, self.cols, self.shape[1], a, center
        )
        return dataclasses.replace(self, xbar=xbar, colsq=colsq)

    @staticmethod
    def moments(data, rows, cols, d, a, center):
        sq = jax.ops.segment_sum(
            a[rows] * data * data, cols, d, indices_are_sorted=True
        )
        if not center:
            return jnp.zeros((d,), data.dtype), sq
        xbar = jax.ops.segment_sum(a[rows] * data, cols, d, indices_are_sorted=True)
        return xbar, jnp.maximum(sq - xbar * xbar, 0.0)


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
    # a squared column norm is finite iff the column is, barring overflow:
    # the flag costs nothing beside the pass over X that computes them
    xbar, colsq = moments
    return xbar, colsq, jnp.all(jnp.isfinite(colsq))


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
        data, rows, cols, shape = _sparse_coordinates(X)
        data = jnp.asarray(data, dtype)
        rows, cols = jnp.asarray(rows), jnp.asarray(cols)
        xbar, colsq, finite = _sparse_moments(data, rows, cols, a, shape[1], center)
        design = SparseDesign(data, rows, cols, xbar, colsq, shape)
        entries = data
    else:
        if isinstance(X, jax.Array):
            XT = X.astype(dtype).T
        else:
            XT = to_device(np.asarray(X).T, dtype)
        xbar, colsq, finite = _dense_moments(XT, a, center)
        design = DenseDesign(XT, xbar, colsq)
        entries = XT
    if not bool(finite):
        if not bool(jnp.all(jnp.isfinite(entries))):
            raise ValueError("X contains NaN or Inf")
        raise ValueError(
            f"X's squared column norms overflow {np.dtype(dtype).name}: rescale X "
            "(e.g. StandardScaler) or enable x64"
        )
    return design
