"""Test configuration shared by every test module.

Eight host devices are simulated so that sharding tests run on any CPU; the
flag must be set before JAX initializes its backends.
"""

import os

os.environ.setdefault("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"

# hermetic runs: no persistent compilation cache (tests/test_cache.py checks it)
os.environ.setdefault("JAXREG_COMPILATION_CACHE", "0")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

from hypothesis import settings  # noqa: E402

# Fuzzing explores a fixed sequence of examples: CI runs are reproducible.
settings.register_profile("jaxreg", derandomize=True, database=None)
settings.load_profile("jaxreg")


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drops jax's compiled executables after each test module.

    Each XLA:CPU executable holds a few memory maps; the whole suite compiles
    enough of them to reach the kernel's ``vm.max_map_count`` (65530), where
    the next compilation segfaults. Modules share few programs, so clearing
    costs little.
    """
    yield
    jax.clear_caches()
