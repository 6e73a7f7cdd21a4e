import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# Extension modules a campaign imports lazily (scipy, and numpy.fft through it, for a gradient
# at two kinks; python-flint and symengine for the first reference; numpy.random, which
# Hypothesis imports when a test runs), imported for the whole session: an in-process
# pytester run (test_pytest_plugin, test_ci_example) drops what it imported when it ends, and
# NumPy's extensions cannot be imported a second time, so every later test failed
# ("cannot load module more than once per process") whenever such a run came first.
import flint, numpy.random, scipy.optimize, symengine  # noqa: E401,F401

# the tests' own Hypothesis profile: deterministic, no database, whatever CI sets
settings.register_profile("adverify-tests", derandomize=True, database=None, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile("adverify-tests")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
