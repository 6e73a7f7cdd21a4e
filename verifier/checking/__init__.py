"""Checking one case against one engine: running it safely (runner, executor) in a mode
(scalar, tensor, order 2, forward) and judging the answer."""
