"""Tensor programs: the tensor op table, lowering to element-level scalar DAGs, strategies,
and the judge's tensor form. A tensor case is a program reduced to a scalar by a fixed
cotangent W (L = sum(out * W)), so every scalar oracle and bound applies to its lowering."""
