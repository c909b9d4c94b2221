"""jaxreg: regularized optimization in JAX.

A flat public API, like optax: ``import jaxreg as jr`` then ``jr.l1``,
``jr.proximal``, ``jr.lion`` ...
"""

from jaxreg import penalties, prox
from jaxreg.diagnostics import (
    Diagnostics,
    DiagnosticsState,
    read_diagnostics,
    with_diagnostics,
)
from jaxreg.lion import ScaleByLionState, lion, scale_by_lion
from jaxreg.muon import (
    COEFFICIENT_SETS,
    ScaleByMuonState,
    muon,
    newton_schulz,
    scale_by_muon,
)
from jaxreg.penalties import (
    L1,
    L2,
    ElasticNet,
    GroupLasso,
    NuclearNorm,
    Penalty,
    elastic_net,
    group_lasso,
    l1,
    l2,
    nuclear_norm,
)
from jaxreg.prox import (
    group_soft_threshold,
    projection_box,
    projection_l1_ball,
    projection_l2_ball,
    projection_non_negative,
    projection_simplex,
    prox_elastic_net,
    prox_ridge,
    singular_value_threshold,
    soft_threshold,
)
from jaxreg.solvers import (  # solvers
    CompositeResult,
    Constraint,
    ConvergenceWarning,
    CVResult,
    PathResult,
    SolverResult,
    cross_validate,
    enet,
    enet_path,
    lasso,
    lasso_path,
    logistic_path,
    logistic_regression,
    projected_gradient,
    proximal_gradient,
    ridge,
)
from jaxreg.transforms import (
    RegularizationState,
    add_penalty_gradient,
    decoupled,
    prox_adam,
    prox_adamw,
    prox_sgd,
    proximal,
)

__version__ = "0.1.0"

__all__ = [
    # penalties
    "Penalty",
    "L1",
    "L2",
    "ElasticNet",
    "GroupLasso",
    "NuclearNorm",
    "l1",
    "l2",
    "elastic_net",
    "group_lasso",
    "nuclear_norm",
    "penalties",
    # prox
    "prox",
    "soft_threshold",
    "prox_elastic_net",
    "prox_ridge",
    "group_soft_threshold",
    "singular_value_threshold",
    "projection_l1_ball",
    "projection_l2_ball",
    "projection_box",
    "projection_non_negative",
    "projection_simplex",
    # transforms
    "RegularizationState",
    "add_penalty_gradient",
    "decoupled",
    "proximal",
    "prox_sgd",
    "prox_adam",
    "prox_adamw",
    # lion
    "ScaleByLionState",
    "scale_by_lion",
    "lion",
    # solvers (jaxreg.solvers; estimators live in jaxreg.linear_model)
    "CompositeResult",
    "Constraint",
    "ConvergenceWarning",
    "CVResult",
    "PathResult",
    "SolverResult",
    "cross_validate",
    "enet",
    "enet_path",
    "lasso",
    "lasso_path",
    "logistic_path",
    "logistic_regression",
    "projected_gradient",
    "proximal_gradient",
    "ridge",
    # muon
    "COEFFICIENT_SETS",
    "ScaleByMuonState",
    "newton_schulz",
    "scale_by_muon",
    "muon",
    # diagnostics
    "Diagnostics",
    "DiagnosticsState",
    "with_diagnostics",
    "read_diagnostics",
]
