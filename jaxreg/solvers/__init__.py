"""Jit-compiled solvers for regularized linear models."""
