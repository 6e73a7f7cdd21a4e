"""adverify: are an autograd engine's derivatives right, on every composition of its ops?"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["check_engine", "run_campaign", "Options", "load_engine", "CustomOp", "Kink", "__version__"]


def __getattr__(name: str):
    # the public API is imported lazily: `adverify --help` and the pytest plugin stay fast
    if name in ("run_campaign", "Options"):
        from verifier.search import campaign
        return getattr(campaign, name)
    if name == "check_engine":
        from verifier.interfaces.gate import check_engine
        return check_engine
    if name == "CustomOp":   # an engine's own op (custom_ops): docs/custom-ops.md
        from verifier.floor.custom import CustomOp
        return CustomOp
    if name == "Kink":
        from verifier.floor.ops import Kink
        return Kink
    if name == "load_engine":
        from verifier.engines import load_engine
        return load_engine
    raise AttributeError(name)
