"""Looking for discrepancies: the generators, the campaign that drives Hypothesis, and the
blame of each shrunk reproducer."""
