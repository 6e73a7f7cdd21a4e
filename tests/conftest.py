import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# the tests' own Hypothesis profile: deterministic, no database, whatever CI sets
settings.register_profile("adverify-tests", derandomize=True, database=None, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile("adverify-tests")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
