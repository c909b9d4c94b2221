"""Jit-compiled solvers for regularized linear models.

``lasso``, ``enet``, ``logistic_regression`` (:mod:`.glm`, over the
working-set prox-Newton coordinate descent of :mod:`.cd`), ``ridge``
(Cholesky / CG), paths and cross-validation (:mod:`.path`), batched FISTA and
group-Lasso regression (:mod:`.fista`), datafits (:mod:`.datafits`). Every
solver returns a :class:`SolverResult`.
"""

from jaxreg.solvers.base import ConvergenceWarning, SolverResult
from jaxreg.solvers.composite import (
    CompositeResult,
    Constraint,
    projected_gradient,
    proximal_gradient,
)
from jaxreg.solvers.datafits import Logistic, Quadratic, duality_gap
from jaxreg.solvers.glm import enet, lasso, logistic_regression
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
    "Logistic",
    "PathResult",
    "Quadratic",
    "SolverResult",
    "cross_validate",
    "duality_gap",
    "enet",
    "enet_path",
    "lasso",
    "lasso_path",
    "logistic_path",
    "logistic_regression",
    "projected_gradient",
    "proximal_gradient",
    "ridge",
]
