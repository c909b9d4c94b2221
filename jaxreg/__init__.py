"""jaxreg: regularized optimization in JAX.

A flat public API, like optax: ``import jaxreg as jr`` then ``jr.l1``,
``jr.proximal``, ``jr.lion`` ...
"""

# _cache first: it turns on the compilation cache before anything compiles
from jaxreg import _cache, layouts, penalties, prox, pruning  # noqa: F401
from jaxreg._lion import ScaleByLionState, lion, scale_by_lion
from jaxreg._muon import (
    COEFFICIENT_SETS,
    ScaleByMuonState,
    muon,
    newton_schulz,
    scale_by_muon,
)
from jaxreg.curvature import (
    HessianEigen,
    effective_rank,
    gradient_noise_scale,
    hessian_vector_product,
    sam_sharpness,
    stable_rank,
    top_hessian_eigenvalue,
    weight_norm_growth,
)
from jaxreg.diagnostics import (
    Diagnostics,
    DiagnosticsState,
    read_diagnostics,
    with_diagnostics,
)
from jaxreg.layouts import (
    EQUINOX_CONV,
    EQUINOX_DENSE,
    FLAX_CONV,
    FLAX_DENSE,
    TORCH_CONV,
    TORCH_DENSE,
    Layout,
    resolve_layouts,
    stacked,
    weight_mask,
)
from jaxreg.penalties import (
    L1,
    L2,
    BlockGroupLasso,
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
from jaxreg.pruning import (
    PruneReport,
    Units,
    mlp_units,
    prox_units,
    proximal_units,
    prune_units,
    unit_group_lasso_value,
    unit_norms,
)
from jaxreg.sam import (
    SAMGradient,
    SAMState,
    gsam_direction,
    sam,
    sam_gradient,
    sam_perturbation,
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
from jaxreg.spectral import (
    LipschitzBound,
    SpectralNorm,
    SpectralState,
    add_spectral_penalty,
    lipschitz_bound,
    spectral_norm,
    spectral_normalization,
)
from jaxreg.transforms import (
    RegularizationState,
    add_penalty_gradient,
    decoupled,
    prox_adam,
    prox_adamw,
    prox_sgd,
    proximal,
    schedule_free_prox_eval_params,
)
from jaxreg.tune import TuneResult, tune  # hyperparameter search

__version__ = "0.1.0"

__all__ = [
    # penalties
    "Penalty",
    "L1",
    "L2",
    "ElasticNet",
    "GroupLasso",
    "BlockGroupLasso",
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
    "schedule_free_prox_eval_params",
    # layouts
    "layouts",
    "pruning",
    "Layout",
    "FLAX_DENSE",
    "TORCH_DENSE",
    "EQUINOX_DENSE",
    "FLAX_CONV",
    "TORCH_CONV",
    "EQUINOX_CONV",
    "stacked",
    "resolve_layouts",
    "weight_mask",
    # structured pruning across leaves
    "Units",
    "mlp_units",
    "unit_norms",
    "unit_group_lasso_value",
    "prox_units",
    "proximal_units",
    "PruneReport",
    "prune_units",
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
    # hyperparameter search by hypergradients (jaxreg.tune)
    "TuneResult",
    "tune",
    # muon
    "COEFFICIENT_SETS",
    "ScaleByMuonState",
    "newton_schulz",
    "scale_by_muon",
    "muon",
    # sharpness-aware minimization
    "SAMGradient",
    "SAMState",
    "sam",
    "sam_gradient",
    "sam_perturbation",
    "gsam_direction",
    # diagnostics
    "Diagnostics",
    "DiagnosticsState",
    "with_diagnostics",
    "read_diagnostics",
    # curvature and implicit-regularization signals
    "HessianEigen",
    "hessian_vector_product",
    "top_hessian_eigenvalue",
    "sam_sharpness",
    "gradient_noise_scale",
    "stable_rank",
    "effective_rank",
    "weight_norm_growth",
    # spectral normalization / Lipschitz control
    "SpectralNorm",
    "SpectralState",
    "LipschitzBound",
    "spectral_norm",
    "spectral_normalization",
    "add_spectral_penalty",
    "lipschitz_bound",
]
