"""Independent reference solutions shared by the tests."""

import numpy as np
from scipy.optimize import minimize


def l1_argmin(smooth, d, l1, *, ftol=1e-16, gtol=1e-13, maxiter=50_000):
    """``argmin_x smooth(x) + Σⱼ l1ⱼ|xⱼ|`` and its value, by scipy's L-BFGS-B
    (``l1`` a scalar or one weight per coordinate).

    The L1 term is made smooth by splitting ``x = p - q`` with ``p, q >= 0``
    (then ``|xⱼ| = pⱼ + qⱼ`` at the optimum). ``smooth(x)`` returns the
    value and the gradient of the smooth part.
    """
    l1 = np.broadcast_to(np.asarray(l1, float), (d,))

    def split(z):
        value, grad = smooth(z[:d] - z[d:])
        pen = l1 @ (z[:d] + z[d:])
        return value + pen, np.concatenate([grad + l1, -grad + l1])

    opt = minimize(
        split,
        np.zeros(2 * d),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * (2 * d),
        options=dict(ftol=ftol, gtol=gtol, maxiter=maxiter),
    )
    return opt.x[:d] - opt.x[d:], opt.fun
