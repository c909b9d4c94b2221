r"""Implicit differentiation of a solver's output through its fixed-point equation.

A solver returns :math:`x^\star(\theta)`, a fixed point
:math:`x^\star = T(x^\star, \theta)` of a map :math:`T` (for proximal gradient,
:math:`T(x, \theta) = \operatorname{prox}_{t g_\theta}(x - t\nabla_x f(x,
\theta))`, whose fixed points are exactly the minimizers of :math:`f + g` for
every step :math:`t > 0`). Differentiating the equation gives

.. math::

    (I - \partial_x T)\, \mathrm{d}x^\star = \partial_\theta T\, \mathrm{d}\theta ,
    \qquad
    \bar\theta = (\partial_\theta T)^\top u, \quad (I - \partial_x T)^\top u = \bar x ,

so a reverse-mode gradient costs one matrix-free linear solve with the VJP of
:math:`T` at the solution: the solver's iterations are never unrolled.

**Nonsmooth penalties.** :math:`\partial_x T` uses JAX's derivative of the prox,
which is its generalized (Clarke) Jacobian away from kinks. For the L1 prox
(soft thresholding) that Jacobian is the 0/1 diagonal of the support
:math:`S = \{i : x^\star_i \neq 0\}`, so the system above *is* the system
restricted to the support: off :math:`S` the rows of :math:`\partial_x T` and
:math:`\partial_\theta T` vanish, :math:`\mathrm{d}x^\star_{S^c} = 0`, and on
:math:`S`, :math:`t H_{SS}\,\mathrm{d}x_S = \ldots` with :math:`H` the Hessian
of :math:`f` — well posed when :math:`H_{SS}` is non-singular, even if
:math:`H` is not (more features than samples). Group lasso and the nuclear norm
behave the same on their generalized supports (whole groups, the rank; the
singular-value threshold has its own derivative, finite at repeated singular
values where JAX's SVD derivative is NaN). At a
kink (a coordinate with :math:`|x_i - t\nabla_i f| = t\lambda` exactly) the
derivative is one element of the generalized Jacobian (JAX's ``clip`` gives
½), which is finite but not a true derivative.

**Linear solvers.** ``"gmres"`` (default; :func:`jax.scipy.sparse.linalg.gmres`,
restart 20) stops at relative residual ``tol``; ``"neumann"`` iterates
:math:`u \leftarrow \bar x + (\partial_x T)^\top u` (converges when the spectral
radius of :math:`\partial_x T` is below 1, e.g. :math:`t \le 1/L` and
:math:`f` strongly convex on the support) until
:math:`\|u_{k+1} - u_k\| \le \mathrm{tol}\,\|u_{k+1}\|`, checked every 10
iterations. Neither raises if ``max_iter`` runs out: the result is the last
iterate. An operator that is not finite (a NaN in the Jacobian of
:math:`T`) gives a NaN gradient with either, never ``gmres``'s 0.

**Minimizers restricted to their support** (:func:`support_argmin_vjp`,
:func:`implicit_support_argmin`). When :math:`x^\star(\theta)` minimizes
:math:`\phi(x, \theta) = f(x, \theta) + g(x, \theta)` with :math:`g`
smooth on the support :math:`S` of :math:`x^\star` (an L1 / elastic-net /
weighted-L1 term is, where :math:`x_i \neq 0`; a group norm is, on the
nonzero groups), the optimality condition on :math:`S` is
:math:`\nabla_S \phi(x^\star, \theta) = 0` with :math:`x^\star_{S^c} = 0`
held fixed, and

.. math::

    \nabla^2_{SS}\phi\; u_S = \bar x_S, \qquad
    \bar\theta = -\partial_\theta\big(\nabla_S\phi(x^\star,\theta)\big)^\top
    u_S ,

the generalized (Clarke) Jacobian of Bertrand et al. (sparse-ho): zero off
the support, and the same system the fixed-point form above reduces to. The
support Hessian is symmetric positive (semi)definite, so the system is solved
by conjugate gradients on Hessian-vector products (forward-over-reverse
autodiff of :math:`\phi`, masked to :math:`S`): matrix-free, one pass over
the data per CG iteration, no unrolling, and no ``gmres`` restart memory.

jaxopt's ``custom_fixed_point`` / ``custom_root`` do the same with a normal-
equation CG by default (which squares the condition number); jaxopt PR #274,
never merged, restricted the system to the Lasso support by hand.

References:
  Bertrand, Klopfenstein, Massias, Blondel, Vaiter, Gramfort & Salmon,
  "Implicit differentiation for fast hyperparameter selection in non-smooth
  convex learning", JMLR 2022 (ICML 2020).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._programs import tuned_jit

__all__ = [
    "LINEAR_SOLVERS",
    "fixed_point_vjp",
    "implicit_fixed_point",
    "implicit_support_argmin",
    "support_argmin_vjp",
]

LINEAR_SOLVERS = ("gmres", "neumann")


def _tree_norm(tree):
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in leaves))


def _neumann(transpose_jac, rhs, tol, max_iter, check_every=10):
    """Solves ``u = rhs + Jᵀu`` by fixed-point iteration."""

    def step(_, u):
        return jax.tree.map(jnp.add, rhs, transpose_jac(u))

    def cond(c):
        k, _, change = c
        return (k < max_iter) & (change > tol)

    def body(c):
        k, u, _ = c
        u_prev = lax.fori_loop(0, check_every - 1, step, u)
        u_new = step(0, u_prev)
        diff = _tree_norm(jax.tree.map(jnp.subtract, u_new, u_prev))
        scale = _tree_norm(u_new)
        return k + check_every, u_new, jnp.where(scale > 0, diff / scale, diff)

    inf = jnp.asarray(jnp.inf, jnp.result_type(*jax.tree.leaves(rhs)))
    _, u, _ = lax.while_loop(cond, body, (0, rhs, inf))
    return u


def all_finite(tree) -> jax.Array:
    """Whether every entry of every leaf of ``tree`` is finite (traceable)."""
    return jnp.all(
        jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)])
    )


def fixed_point_vjp(
    fixed_point: Callable,
    x_star,
    theta,
    cotangent,
    *,
    linear_solver: str = "gmres",
    tol: float = 1e-6,
    max_iter: int = 1000,
):
    r"""The VJP of a fixed point :math:`x^\star = T(x^\star, \theta)` in theta.

    Args:
      fixed_point: ``T(x, theta) -> x``, differentiable in both arguments.
      x_star: the fixed point (a pytree).
      theta: the parameters (a pytree; integer leaves get ``float0`` cotangents).
      cotangent: :math:`\bar x`, a pytree like ``x_star``.
      linear_solver: ``"gmres"`` or ``"neumann"`` (module docstring).
      tol: relative residual (gmres) or relative change (neumann) to stop at.
      max_iter: iteration budget of the linear solve.

    Returns:
      :math:`\bar\theta = (\partial_\theta T)^\top u` with
      :math:`(I - \partial_x T)^\top u = \bar x`, a pytree like ``theta``.
    """
    _, vjp = jax.vjp(fixed_point, x_star, theta)

    def transpose_jac(u):
        return vjp(u)[0]

    if linear_solver == "gmres":

        def matvec(u):
            return jax.tree.map(jnp.subtract, u, transpose_jac(u))

        u, _ = jax.scipy.sparse.linalg.gmres(
            matvec, cotangent, tol=tol, atol=0.0, restart=20, maxiter=max_iter
        )
        # gmres returns 0 when the operator gives NaN (it finds no Krylov
        # direction): a NaN Jacobian of T would read as a zero gradient, so
        # its result is NaN whenever the operator is not finite at it
        finite = all_finite(matvec(u))
        u = jax.tree.map(lambda a: jnp.where(finite, a, jnp.nan), u)
    elif linear_solver == "neumann":
        u = _neumann(transpose_jac, cotangent, tol, max_iter)
    else:
        raise ValueError(
            f"linear_solver must be one of {LINEAR_SOLVERS}, got {linear_solver!r}"
        )
    return vjp(u)[1]


def implicit_fixed_point(
    solve: Callable,
    fixed_point: Callable,
    *,
    linear_solver: str = "gmres",
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> Callable:
    r"""Wraps a solver so that reverse-mode autodiff goes through its fixed point.

    Args:
      solve: ``solve(init, theta, static) -> (x, aux)``: runs the iterations.
        ``theta`` holds everything to differentiate with respect to (data,
        hyperparameters); ``static`` holds traced values that are not
        differentiated (tolerances, an initial step); ``aux`` is returned as
        is, without gradient (iteration counts, flags, the final step).
      fixed_point: ``fixed_point(x, theta, aux) -> x``, the map :math:`T`
        whose fixed point ``solve`` returns; it may read ``aux`` (e.g. the
        step size the solver ended with).
      linear_solver, tol, max_iter: the adjoint solve (:func:`fixed_point_vjp`).

    Returns:
      ``wrapped(init, theta, static) -> (x, aux)`` with a ``jax.custom_vjp``:
      the gradient with respect to ``init`` and ``static`` is zero, the one
      with respect to ``theta`` is implicit. Forward-mode (``jvp``/``jacfwd``)
      is not defined; use ``jacrev``.
    """
    if linear_solver not in LINEAR_SOLVERS:
        raise ValueError(
            f"linear_solver must be one of {LINEAR_SOLVERS}, got {linear_solver!r}"
        )

    @jax.custom_vjp
    def wrapped(init, theta, static):
        return solve(init, theta, static)

    def fwd(init, theta, static):
        x, aux = solve(init, theta, static)
        return (x, aux), (x, aux, theta, init, static)

    def bwd(res, cts):
        x, aux, theta, init, static = res
        ct_x, _ = cts
        aux = lax.stop_gradient(aux)
        ct_theta = fixed_point_vjp(
            lambda x_, th: fixed_point(x_, th, aux),
            x,
            theta,
            ct_x,
            linear_solver=linear_solver,
            tol=tol,
            max_iter=max_iter,
        )
        return _zero_cotangent(init), ct_theta, _zero_cotangent(static)

    wrapped.defvjp(fwd, bwd)
    return wrapped


def _masked(mask, tree):
    return jax.tree.map(lambda m, t: jnp.where(m, t, 0), mask, tree)


def support_argmin_vjp(
    objective: Callable,
    x_star,
    theta,
    cotangent,
    support,
    *,
    tol: float = 1e-6,
    max_iter: int = 500,
):
    r"""The VJP of a minimizer :math:`x^\star(\theta)` restricted to its support.

    Solves :math:`\nabla^2_{SS}\phi\, u = \bar x_S` by conjugate gradients
    (:func:`jax.scipy.sparse.linalg.cg`, relative residual ``tol``, at most
    ``max_iter`` Hessian-vector products) and returns
    :math:`\bar\theta = -\partial_\theta(\nabla_x\phi)^\top u` (module
    docstring). Off the support the rows of the system are the identity and
    the right-hand side is 0, so :math:`u_{S^c} = 0`.

    Args:
      objective: ``phi(x, theta) -> scalar``, twice differentiable in ``x`` on
        the support and once in ``theta`` (e.g. a datafit plus
        ``penalty.value``).
      x_star: the minimizer (a pytree).
      theta: what to differentiate with respect to (a pytree).
      cotangent: :math:`\bar x`, a pytree like ``x_star``.
      support: a bool pytree like ``x_star``: the coordinates free to move
        (``x != 0``, and an intercept always).
      tol, max_iter: the CG stopping rule and budget; the last iterate is used
        if the budget runs out (no error inside ``jit``).

    Returns:
      :math:`\bar\theta`, a pytree like ``theta``.
    """
    grad_x = jax.grad(objective)

    def hvp(v):
        v = _masked(support, v)
        _, hv = jax.jvp(lambda x: grad_x(x, theta), (x_star,), (v,))
        # identity off the support keeps the system definite there
        return jax.tree.map(lambda m, h, v_: jnp.where(m, h, v_), support, hv, v)

    rhs = _masked(support, cotangent)
    u, _ = jax.scipy.sparse.linalg.cg(hvp, rhs, tol=tol, atol=0.0, maxiter=max_iter)
    u = _masked(support, u)
    _, vjp = jax.vjp(lambda th: grad_x(x_star, th), theta)
    # the VJP is linear: negate u rather than the (possibly float0) result
    return vjp(jax.tree.map(jnp.negative, u))[0]


# compiled once per objective (a module-level function keeps its cache) and
# shape: an eager jax.grad would otherwise run the CG solve op by op
_jit_support_argmin_vjp = tuned_jit(
    support_argmin_vjp, static_argnames=("objective", "tol", "max_iter")
)


def implicit_support_argmin(
    solve: Callable,
    objective: Callable,
    support: Callable,
    *,
    tol: float = 1e-6,
    max_iter: int = 500,
) -> Callable:
    r"""Wraps a solver of :math:`\min_x \phi(x, \theta)` for reverse-mode autodiff.

    Args:
      solve: ``solve(theta) -> (x, aux)``; ``aux`` (gaps, counts, flags) is
        returned as is, without gradient. It is called with concrete arrays
        when the wrapped function is differentiated eagerly (``jax.grad``
        outside ``jit`` evaluates a ``custom_vjp`` forward pass on the primal
        values), so it may be host-driven; under ``jit``/``vmap`` it receives
        tracers and must then be traceable.
      objective: ``phi(x, theta) -> scalar`` (:func:`support_argmin_vjp`).
      support: ``support(x) -> bool pytree`` (the generalized support).
      tol, max_iter: the conjugate-gradient adjoint solve, compiled once per
        ``objective`` and shapes (pass a module-level function, not a fresh
        closure, to reuse the compiled program across calls).

    Returns:
      ``wrapped(theta) -> (x, aux)`` with a ``jax.custom_vjp`` whose gradient
      is :func:`support_argmin_vjp`. Forward mode (``jvp``/``jacfwd``) is not
      defined; use ``jacrev``.
    """

    @jax.custom_vjp
    def wrapped(theta):
        return solve(theta)

    def fwd(theta):
        x, aux = solve(theta)
        return (x, aux), (x, theta)

    def bwd(res, cts):
        x, theta = res
        ct_theta = _jit_support_argmin_vjp(
            objective, x, theta, cts[0], support(x), tol=tol, max_iter=max_iter
        )
        return (ct_theta,)

    wrapped.defvjp(fwd, bwd)
    return wrapped


def _zero_cotangent(tree):
    """Zeros of the cotangent type of every leaf (``float0`` for integers)."""

    def zero(leaf):
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            return jnp.zeros_like(leaf)
        return np.zeros(leaf.shape, jax.dtypes.float0)

    return jax.tree.map(zero, tree)
