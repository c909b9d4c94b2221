"""Fuzzing the public prox, penalty and transform functions over shapes, dtypes
and hyperparameters: a clear ValueError or a finite result, never an XLA error."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxreg as jr

SHAPES = [(0,), (1,), (1, 1), (7,), (9, 2), (2, 9), (3, 4, 5), (0, 3)]
FLOAT_DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]
HYPER = st.sampled_from([0.0, 1e-30, 1e-3, 1.0, 1e30])
FUZZ = settings(max_examples=10, deadline=None)


def array(shape, dtype, seed=0):
    x = np.random.default_rng(seed).normal(size=shape)
    return jnp.asarray(x, dtype)


def penalty_factories(strength):
    return [
        jr.l1(strength),
        jr.l2(strength),
        jr.elastic_net(strength, 0.5),
        jr.group_lasso(strength, axis=(0,)),  # any rank, without the warning
        jr.nuclear_norm(strength, layout=jr.layouts.FLAX_CONV),
    ]


def ok_for(pen, shape):
    """Whether ``pen`` accepts a leaf of ``shape`` (else it must say why)."""
    if isinstance(pen, jr.NuclearNorm):
        return len(shape) >= 2
    return True


@FUZZ
@given(
    shape=st.sampled_from(SHAPES),
    dtype=st.sampled_from(FLOAT_DTYPES),
    strength=HYPER,
    step=HYPER,
)
def test_penalties_give_finite_results_or_clear_errors(shape, dtype, strength, step):
    x = array(shape, dtype)
    for pen in penalty_factories(strength):
        if not ok_for(pen, shape):
            with pytest.raises(ValueError, match="ndim"):
                pen.prox(x, step)
            continue
        out = pen.prox(x, step)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert np.all(np.isfinite(np.asarray(out, np.float32)))
        # a prox never moves a point away from the origin
        assert (
            float(jnp.sum(jnp.abs(out.astype(jnp.float32))))
            <= float(jnp.sum(jnp.abs(x.astype(jnp.float32)))) * (1 + 1e-2) + 1e-6
        )
        grad = pen.grad(x)
        assert grad.shape == x.shape and grad.dtype == x.dtype
        assert np.isfinite(float(pen.value(x))) or strength == 1e30


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "a", 1 + 2j])
def test_bad_strengths_raise(bad):
    for factory in (jr.l1, jr.l2, jr.group_lasso, jr.nuclear_norm):
        with pytest.raises(ValueError, match="strength"):
            factory(bad)
    with pytest.raises(ValueError, match="l1_ratio"):
        jr.elastic_net(1.0, bad if bad != -1.0 else 2.0)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_])
def test_non_float_inputs_raise(dtype):
    x = jnp.ones((3, 2), dtype)
    for pen in penalty_factories(0.1):
        with pytest.raises(ValueError, match="floating dtype"):
            pen.prox(x, 1.0)


@FUZZ
@given(
    shape=st.sampled_from([s for s in SHAPES if len(s) >= 2]),
    dtype=st.sampled_from(FLOAT_DTYPES),
    lr=HYPER,
    strength=HYPER,
)
def test_transforms_run_on_any_shape(shape, dtype, lr, strength):
    params = {"w": array(shape, dtype), "b": array(shape[-1:], dtype, 1)}
    grads = jax.tree.map(lambda x: x * 0.5, params)

    def no_bias(p):
        return jax.tree.map(lambda x: x.ndim > 1, p)

    for tx in (
        jr.prox_sgd(lr, jr.group_lasso(strength, (0,)), mask=no_bias),
        jr.prox_adamw(lr, jr.l1(strength)),
        optax.chain(jr.add_penalty_gradient(jr.l2(strength)), optax.sgd(lr)),
        jr.lion(lr, weight_decay=strength),
    ):
        updates, _ = tx.update(grads, tx.init(params), params)
        for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
            assert u.shape == p.shape and u.dtype == p.dtype


@pytest.mark.parametrize("bad_lr", [-0.1, float("nan")])
def test_bad_learning_rates_raise(bad_lr):
    for make in (
        lambda: jr.proximal(jr.l1(0.1), bad_lr),
        lambda: jr.decoupled(jr.l2(0.1), bad_lr),
        lambda: jr.prox_sgd(bad_lr, jr.l1(0.1)),
    ):
        with pytest.raises(ValueError, match="learning_rate"):
            make()


SOLVER_SHAPES = [(1, 1), (2, 1), (1, 3), (40, 3), (5, 30)]


@settings(max_examples=8, deadline=None)
@given(
    shape=st.sampled_from(SOLVER_SHAPES),
    lam=st.sampled_from([0.0, 1e-12, 0.1, 1e12]),
    seed=st.integers(0, 3),
)
def test_solvers_on_any_shape_and_strength_give_finite_answers(shape, lam, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=shape).astype(np.float32)
    y = rng.normal(size=shape[0]).astype(np.float32)
    labels = np.arange(shape[0]) % 2
    import warnings

    with warnings.catch_warnings():
        # an unpenalized wide problem may legitimately exhaust its budget
        warnings.simplefilter("ignore", jr.ConvergenceWarning)
        results = [
            jr.lasso(X, y, lam, max_iter=20),
            jr.enet(X, y, lam, 0.5, max_iter=20),
        ]
        if shape[0] > 1:
            results.append(jr.logistic_regression(X, labels, lam, max_iter=20))
        else:  # one sample, one class: the log-loss has no minimum
            with pytest.raises(ValueError, match="one class"):
                jr.logistic_regression(X, labels, lam, max_iter=20)
        results.append(jr.ridge(X, y, lam))
    if lam == 0:  # the minimum-norm least-squares solution, as numpy's lstsq
        Xc, yc = X - X.mean(axis=0), y - y.mean()
        # rcond at float32 resolution: centring in float32 leaves a singular
        # value ~1e-7·σ₁ that a float64 lstsq would otherwise invert
        ref = np.linalg.lstsq(Xc.astype(np.float64), yc, rcond=1e-5)[0]
        scale = max(1.0, np.abs(ref).max())
        np.testing.assert_allclose(results[-1].coef, ref, atol=2e-3 * scale)
    for res in results:
        assert res.coef.shape == (shape[1],)
        assert np.all(np.isfinite(np.asarray(res.coef)))
        assert np.isfinite(float(res.intercept))
    if lam >= 1e12:  # far above lambda_max: everything is zero
        np.testing.assert_array_equal(results[0].coef, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": -1.0}, "lam"),
        ({"lam": float("nan")}, "lam"),
        ({"X": np.ones((3, 2, 1))}, "X"),
        ({"X": np.full((3, 2), np.inf)}, "X"),
        ({"y": np.ones(4)}, "samples"),
        ({"X": np.ones((0, 2)), "y": np.ones(0)}, "X"),
    ],
)
def test_solver_bad_inputs_raise(kwargs, match):
    args = {"X": np.ones((3, 2)), "y": np.ones(3), "lam": 0.1} | kwargs
    with pytest.raises(ValueError, match=match):
        jr.lasso(args["X"], args["y"], args["lam"])
