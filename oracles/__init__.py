"""Independent ways to get a derivative: one module each, one signature.

``gradient(expr, point) -> Estimate``: the derivative of ``expr`` with respect to each of its
variables at ``point``. The symbolic and numeric oracles use only the op table's SymPy forms
and forward functions; the paths oracle uses its local partials. Their agreement is what
makes a ground truth.
"""
from oracles.base import Estimate, OracleError

ORACLES = ("symbolic", "paths", "mpmath", "richardson", "complex_step")

__all__ = ["Estimate", "OracleError", "ORACLES"]
