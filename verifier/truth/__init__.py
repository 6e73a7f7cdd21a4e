"""The truth about a case: the oracles combined into a reference, the per-point bound, and
the judge that compares an engine's answer with both. Never touches an engine."""
