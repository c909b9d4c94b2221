"""Pytree registration for the frozen dataclasses that carry our data.

:func:`jax.tree_util.register_dataclass` makes treedefs that compare equal
across classes with the same fields (jax 0.10: ``tree_structure(Quadratic(y, a))
== tree_structure(Logistic(y, a))`` although their hashes differ). ``jit``
keys its cache by treedef, so when two such hashes meet in a bucket a call
with one class runs (and returns the pytree structure of) the program traced
for the other: a Tweedie fit computed with another power, a custom-VJP whose
cotangent has the wrong datafit type. :func:`register_dataclass` registers the
same flattening as a custom node, whose treedef equality includes the class.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax

__all__ = ["register_dataclass"]


def register_dataclass(
    cls: type, data_fields: Sequence[str], meta_fields: Sequence[str]
) -> type:
    """Registers a dataclass as a pytree: ``data_fields`` are children (with
    :class:`~jax.tree_util.GetAttrKey` paths), ``meta_fields`` static aux data.

    The signature of :func:`jax.tree_util.register_dataclass`; use this one
    for a new datafit or penalty, so that its treedef differs from those of
    the built-in classes (module docstring). Unflattening calls ``cls(**fields)``.
    """
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data_fields)

    def flatten_with_keys(obj):
        children = tuple((k, getattr(obj, k.name)) for k in keys)
        return children, tuple(getattr(obj, name) for name in meta_fields)

    def flatten(obj):
        children = tuple(getattr(obj, name) for name in data_fields)
        return children, tuple(getattr(obj, name) for name in meta_fields)

    def unflatten(meta, children):
        fields = zip(data_fields + meta_fields, (*children, *meta), strict=True)
        return cls(**dict(fields))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
