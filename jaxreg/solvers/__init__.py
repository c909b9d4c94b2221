"""Jit-compiled solvers for regularized linear models.

Three contracts: a ``Datafit`` (:mod:`.datafits`: ``Quadratic``,
``Logistic``, ``Poisson``, ``Gamma``, ``Tweedie``, with per-sample
weights), a separable ``Penalty`` (the
:mod:`jaxreg.penalties` objects: ``l1``, ``l2``, ``elastic_net``, with
per-feature weights and positivity) and a ``Design`` (:mod:`.design`: dense,
sparse, row-sharded; centring implicit). ``fit`` solves any combination by
the working-set prox-Newton coordinate descent of :mod:`.cd`; ``lasso``,
``enet``, ``logistic_regression`` (:mod:`.glm`) fix the datafit and penalty;
``ridge`` (Cholesky / SVD / CG), paths and cross-validation (:mod:`.path`),
the group lasso by block coordinate descent (``group_lasso``, :mod:`.bcd`),
batched FISTA and group-Lasso regression by FISTA (:mod:`.fista`),
multinomial logistic regression by FISTA (:mod:`.multinomial`). Every solver
returns a :class:`SolverResult`. ``proximal_gradient`` and
``projected_gradient`` (:mod:`.composite`) minimize any smooth function of a
pytree plus a penalty or constraint, with implicit differentiation
(:mod:`.implicit`). ``jax.grad`` goes through ``fit``, ``lasso``, ``enet``,
``logistic_regression`` and ``group_lasso`` (:mod:`.hypergrad`: the
optimality conditions on the support, solved by conjugate gradients).
"""

from jaxreg._pytree import register_dataclass
from jaxreg.solvers.base import ConvergenceWarning, SolverResult
from jaxreg.solvers.bcd import group_lasso
from jaxreg.solvers.composite import (
    CompositeResult,
    Constraint,
    projected_gradient,
    proximal_gradient,
)
from jaxreg.solvers.datafits import (
    Datafit,
    Gamma,
    Logistic,
    Poisson,
    Quadratic,
    Tweedie,
    duality_gap,
)
from jaxreg.solvers.design import (
    DenseDesign,
    GramModel,
    ResidualModel,
    SparseDesign,
)
from jaxreg.solvers.glm import enet, fit, lasso, logistic_regression
from jaxreg.solvers.multinomial import multinomial_folds_path, multinomial_regression
from jaxreg.solvers.path import (
    CVResult,
    PathResult,
    cross_validate,
    enet_path,
    lasso_path,
    logistic_path,
)
from jaxreg.solvers.ridge import ridge

__all__ = [
    "CompositeResult",
    "Constraint",
    "ConvergenceWarning",
    "CVResult",
    "Datafit",
    "DenseDesign",
    "Gamma",
    "GramModel",
    "Logistic",
    "PathResult",
    "Poisson",
    "Quadratic",
    "ResidualModel",
    "SolverResult",
    "SparseDesign",
    "Tweedie",
    "cross_validate",
    "duality_gap",
    "enet",
    "enet_path",
    "fit",
    "group_lasso",
    "lasso",
    "lasso_path",
    "logistic_path",
    "logistic_regression",
    "multinomial_folds_path",
    "multinomial_regression",
    "projected_gradient",
    "proximal_gradient",
    "register_dataclass",
    "ridge",
]
