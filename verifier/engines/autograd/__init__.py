"""The seed's engine: a scalar Tensor that knows its arguments and local derivatives."""
from verifier.engines.autograd.tensor import OPS, Tensor, backward_paths, backward_reverse, count_paths

__all__ = ["Tensor", "OPS", "backward_paths", "backward_reverse", "count_paths"]
