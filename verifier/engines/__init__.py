"""Engines under test: the protocol, the registry of adapters, and loading ``--engine SPEC``.

An engine is any object with ``name``, ``ops`` (op name -> callable on engine values),
``variable(v)``, ``constant(v)`` and ``gradients(output, variables)``; optionally ``dtype``
("float64" or "float32") and ``value(x)`` (the forward value as a float). See DESIGN §4.

Two more optional methods go past first derivatives, on the same built graph:

- ``second_derivatives(output, variables) -> list[list[float]]``: the Hessian, row i being
  the derivatives of d output / d variables[i] (builtin, torch, jax, autograd);
- ``forward_gradients(output, variables) -> list[float]``: the gradient by forward mode, one
  JVP per variable with a unit tangent (``torch.autograd.forward_ad``, ``jax.jvp``,
  ``autograd.make_jvp``), so it can be checked against reverse mode (``adverify campaign
  --forward``, verifier.truth.forward). For tensor programs, one array per variable, of the
  variable's shape, as ``gradients`` returns (one JVP per element).

One more optional method answers a whole check in one call, for engines that compile each
graph (``jax.jit``, a Theano-family compiler, tinygrad): ``evaluate(output, variables,
method) -> (value, answer)``, ``method`` being "gradients", "forward_gradients" or
"second_derivatives" (or NotImplemented: ask separately). With ``compiles = True`` the second, identical build of
a check (the consistency check) runs on one case in ``runner.SECOND_BUILD_EVERY`` only.

Optional attributes declare what an engine can take and how it rounds (``Capabilities``,
read by ``engine_capabilities``): ``subnormals``, ``max_rank``, ``matmul_rank``,
``broadcasting``, ``op_limits``. The generator draws nothing outside them, so an adapter
needs no shim. docs/engine-protocol.md is the user's page for all of this.

The real-engine adapters (``*_engine.py``) are optional extras; each imports its engine
only when named, and ``describe_adapters`` reports the ones that are not installed.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from verifier.engines.command import CommandEngine, ProtocolError  # engine programs: `--engine cmd:COMMAND`
from verifier.engines.mutants import MUTANTS  # planted-bug engines: `--engine mutant:tanh-rule`
from verifier.floor.custom import DefinitionError, compile_custom
from verifier.floor.tensor_ops import IR_NAMES, STRUCTURAL
from verifier.floor.vocabulary import BUILTIN, Vocabulary

__all__ = ["Engine", "EngineError", "Capabilities", "engine_capabilities", "CAPABILITIES", "ADAPTERS", "TENSOR_ADAPTERS", "load_engine", "engine_ops", "engine_dtype", "engine_name", "has_forward_mode",
           "describe_adapters", "dtype_constructors", "engine_vocabulary"]


@runtime_checkable
class Engine(Protocol):
    name: str
    ops: Mapping[str, Callable[..., Any]]

    def variable(self, value: float) -> Any: ...
    def constant(self, value: float) -> Any: ...
    def gradients(self, output: Any, variables: Sequence[Any]) -> Sequence[float]: ...


class EngineError(ValueError):
    """An engine spec that cannot be loaded, or an object that is not an engine."""


# the attributes Capabilities reads, each optional, with what it means (the docs' table)
CAPABILITIES = {
    "subnormals": '"keep" (default) or "flush": the engine flushes subnormal numbers to zero; '
                  "no subnormal input is drawn, and subnormal intermediates are undecided",
    "max_rank": "0 to 3 (default 3): no tensor of a higher rank is built",
    "matmul_rank": "2 (the only matmul adverify draws: (m, k) @ (k, n))",
    "broadcasting": "True (default) or False: binary elementwise ops and where get equal shapes",
    "op_limits": 'op -> parameter -> allowed values, e.g. {"softmax": {"axis": (-1,)}, '
                 '"sum": {"keepdims": (False,)}}: only "axis" and "keepdims" (the parameters '
                 "drawn), of ops that take them",
}
_LIMITED = {"axis": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and -3 <= v < 3),
            "keepdims": lambda v: isinstance(v, bool)}


@dataclass(frozen=True)
class Capabilities:
    """What an engine declares it can take, and how it rounds (see CAPABILITIES)."""
    subnormals: str = "keep"
    max_rank: int = 3
    matmul_rank: int = 2
    broadcasting: bool = True
    # ((op, ((param, allowed values), ...)), ...): frozen, so the strategies can cache on it
    op_limits: tuple[tuple[str, tuple[tuple[str, tuple], ...]], ...] = ()

    @property
    def flush(self) -> bool:
        return self.subnormals == "flush"

    def limit(self, op: str, param: str) -> tuple | None:
        """The values of ``op``'s ``param`` the engine takes, or None: any."""
        for name, params in self.op_limits:
            for p, values in params if name == op else ():
                if p == param:
                    return values
        return None


def engine_capabilities(engine: Any, vocabulary: Vocabulary = BUILTIN) -> Capabilities:
    """The engine's declared capabilities, checked: an ``EngineError`` of one line names
    the first attribute that is not what docs/engine-protocol.md allows."""
    name = engine_name(engine)

    def bad(what: str) -> EngineError:
        return EngineError(f"engine {name!r}: {what}")
    subnormals = getattr(engine, "subnormals", "keep")
    if subnormals not in ("keep", "flush"):
        raise bad(f'subnormals must be "keep" or "flush", not {subnormals!r}')
    max_rank = getattr(engine, "max_rank", 3)
    if isinstance(max_rank, bool) or not isinstance(max_rank, int) or not 0 <= max_rank <= 3:
        raise bad(f"max_rank must be an integer from 0 to 3, not {max_rank!r}")
    matmul_rank = getattr(engine, "matmul_rank", 2)
    if matmul_rank != 2 or isinstance(matmul_rank, bool):
        raise bad(f"matmul_rank must be 2 (adverify draws only (m, k) @ (k, n)), not {matmul_rank!r}")
    broadcasting = getattr(engine, "broadcasting", True)
    if not isinstance(broadcasting, bool):
        raise bad(f"broadcasting must be True or False, not {broadcasting!r}")
    return Capabilities(subnormals, max_rank, matmul_rank, broadcasting,
                        _op_limits(getattr(engine, "op_limits", {}), vocabulary, bad))


def _op_limits(limits: Any, vocabulary: Vocabulary, bad: Callable[[str], EngineError]) -> tuple:
    if not isinstance(limits, Mapping):
        raise bad(f"op_limits must be a dict (op -> parameter -> allowed values), not {type(limits).__name__}")
    out = []
    for op, params in limits.items():
        known = vocabulary.tensor[op].params if op in vocabulary.tensor else None
        if known is None:
            raise bad(f"op_limits names {op!r}, which is no op adverify knows")
        if not isinstance(params, Mapping):
            raise bad(f"op_limits[{op!r}] must be a dict (parameter -> allowed values)")
        frozen = []
        for param, values in params.items():
            if param not in known or param not in _LIMITED:
                takes = [p for p in known if p in _LIMITED]
                raise bad(f"op_limits[{op!r}] limits {param!r}; {op} takes "
                          + (" and ".join(repr(p) for p in takes) if takes else "no limitable parameter"))
            if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (tuple, list, set, frozenset)):
                raise bad(f"op_limits[{op!r}][{param!r}] must be a tuple of allowed values, not {values!r}")
            values = tuple(values)
            wrong = [v for v in values if not _LIMITED[param](v)]
            if not values or wrong:
                raise bad(f"op_limits[{op!r}][{param!r}]: {wrong[0]!r} is no {param} value" if wrong
                          else f"op_limits[{op!r}][{param!r}] allows nothing")
            frozen.append((param, values))
        out.append((op, tuple(frozen)))
    return tuple(out)


# name -> "module:attr"; imported only when asked for, so a missing optional engine costs
# nothing until it is named.
# tensor mode (`--tensor`): the builtin names mean the numpy array engines
TENSOR_ADAPTERS: dict[str, str] = {
    "builtin": "verifier.engines.builtin:tensor_reverse",
    "builtin-paths": "verifier.engines.builtin:tensor_paths",
    # the real engines' tensor adapters: same names and modules as the scalar ones below
    "torch": "verifier.engines.torch_engine:tensor_float64",
    "torch-float32": "verifier.engines.torch_engine:tensor_float32",
    "jax": "verifier.engines.jax_engine:tensor_float64",
    "jax-float32": "verifier.engines.jax_engine:tensor_float32",
    "autograd": "verifier.engines.hips_engine:tensor_engine",
    "tinygrad": "verifier.engines.tinygrad_engine:tensor_float32",
    "tinygrad-float64": "verifier.engines.tinygrad_engine:tensor_float64",
}

ADAPTERS: dict[str, str] = {
    "builtin": "verifier.engines.builtin:reverse",
    "builtin-paths": "verifier.engines.builtin:paths",
    # real engines, each an optional extra: pip install 'adverify[torch]' (docs/findings.md)
    "torch": "verifier.engines.torch_engine:float64",
    "torch-float32": "verifier.engines.torch_engine:float32",
    "jax": "verifier.engines.jax_engine:float64",
    "jax-float32": "verifier.engines.jax_engine:float32",
    "autograd": "verifier.engines.hips_engine:engine",
    "micrograd": "verifier.engines.micrograd_engine:engine",
    "tinygrad": "verifier.engines.tinygrad_engine:float32",
    "tinygrad-float64": "verifier.engines.tinygrad_engine:float64",
}
_REQUIRED = ("ops", "variable", "constant", "gradients")


def dtype_constructors(scalar: type, tensor: type) -> tuple[Callable[[], Any], ...]:
    """``float64, float32, tensor_float64, tensor_float32``: the registry's ``module:attr``
    targets for an adapter whose scalar and tensor classes take the dtype. They are module
    functions, named as the registry spells them, so ``load_engine`` and pickle find them
    by name like any other target."""
    def constructor(cls: type, dtype: str, name: str) -> Callable[[], Any]:
        def construct() -> Any:
            return cls(dtype)
        construct.__name__ = construct.__qualname__ = name
        construct.__module__ = cls.__module__
        construct.__doc__ = f"{cls.__name__}({dtype!r})"
        return construct
    return tuple(constructor(cls, dtype, prefix + dtype)
                 for prefix, cls in (("", scalar), ("tensor_", tensor)) for dtype in ("float64", "float32"))


def _import(module: str):
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise EngineError(f"engine file {module!r} does not exist")
        loaded = sys.modules.get(path.stem)
        if loaded is not None and getattr(loaded, "__file__", None) == str(path.resolve()):
            return loaded   # loaded before: one module, so its classes are the same classes
        spec = importlib.util.spec_from_file_location(path.stem, path.resolve())
        mod = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, mod)
        spec.loader.exec_module(mod)  # the user's own engine: running it is the point
        return mod
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module.partition(".")[0] or not _look_in_cwd():
            raise EngineError(f"cannot import engine module {module!r}: {e}") from None
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise EngineError(f"cannot import engine module {module!r}: {e} (looked in the installed "
                          f"packages and in {os.getcwd()})") from None


def _look_in_cwd() -> bool:
    """Put the current folder last on sys.path, as ``python -m`` puts it first: `adverify
    campaign --engine myeng:MyEngine` next to myeng.py then works, and so does the replay
    command it prints, pasted in the same folder. Last, so an installed package of the same
    name wins. False when the folder was there already (nothing new to look at)."""
    cwd = os.getcwd()
    if any(os.path.abspath(p or ".") == cwd for p in sys.path):
        return False
    sys.path.append(cwd)
    importlib.invalidate_caches()
    return True


def load_engine(spec: Any, tensor: bool = False) -> Any:
    """A builtin name, ``mutant:NAME``, ``cmd:COMMAND`` (a program speaking docs/protocol.md,
    started now), ``module:attr`` / ``file.py:attr``, or an engine object or factory. What it
    was given stays on the engine as ``adverify_source``, so a fresh process can build it
    again (``executor.rebuild_recipe``)."""
    obj = source = spec
    if isinstance(spec, str) and spec.startswith("cmd:"):
        try:
            return _remember(CommandEngine(spec[len("cmd:"):].strip(), tensor), source, tensor)
        except ProtocolError as e:
            raise EngineError(str(e)) from None
    if tensor and isinstance(spec, str) and spec in TENSOR_ADAPTERS:
        spec = TENSOR_ADAPTERS[spec]
    if isinstance(spec, str) and spec.startswith("mutant:"):
        name = spec.partition(":")[2]
        if name not in MUTANTS:
            raise EngineError(f"unknown mutant {name!r}: use one of {', '.join(MUTANTS)}")
        return _remember(MUTANTS[name].make(), source, tensor)
    if isinstance(spec, str):
        target = ADAPTERS.get(spec, spec)
        if ":" not in target:
            known = ", ".join(sorted(ADAPTERS))
            raise EngineError(f"unknown engine {spec!r}: name one of {known}; a planted bug as "
                              "mutant:NAME; your own as module:attr or ./file.py:Class, or a program "
                              "speaking docs/protocol.md as cmd:COMMAND "
                              "(`adverify engines` lists them all)")
        module, _, attr = target.rpartition(":")
        try:
            obj = _import(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except EngineError:
            raise
        except AttributeError:
            raise EngineError(f"engine {spec!r}: {module!r} has no attribute {attr!r}") from None
        except Exception as e:  # the user's module failed while importing
            raise EngineError(f"engine {spec!r} failed to load: {type(e).__name__}: {e}") from None
    if inspect.isclass(obj) or (callable(obj) and not all(hasattr(obj, a) for a in _REQUIRED)):
        try:
            obj = obj()
        except Exception as e:
            raise EngineError(f"engine {spec!r}: constructing it failed: {type(e).__name__}: {e}") from None
    missing = [a for a in _REQUIRED if not hasattr(obj, a)]
    if missing:
        raise EngineError(f"engine {spec!r} is not an engine: it lacks {', '.join(missing)}")
    return obj if obj is source else _remember(obj, source, tensor)


def _remember(engine: Any, source: Any, tensor: bool) -> Any:
    try:
        engine.adverify_source = (source, tensor)
    except (AttributeError, TypeError):   # __slots__, or a frozen object: it just has no recipe
        pass
    return engine


def engine_name(engine: Any) -> str:
    return str(getattr(engine, "name", type(engine).__name__))


def engine_dtype(engine: Any) -> str:
    dtype = str(getattr(engine, "dtype", "float64"))
    if dtype not in ("float64", "float32"):
        raise EngineError(f"engine {engine_name(engine)!r} has unsupported dtype {dtype!r}")
    return dtype


def has_forward_mode(engine: Any) -> bool:
    """The engine offers forward mode too (``forward_gradients``): ``--forward`` checks it."""
    return callable(getattr(engine, "forward_gradients", None))


def engine_vocabulary(engine: Any) -> Vocabulary:
    """The ops a campaign against ``engine`` speaks: the built-in ones, and those the engine
    declares of its own in ``custom_ops`` (name -> SymPy form or ``verifier.CustomOp``),
    each compiled and checked (floor.custom). An ``EngineError`` of one line names a
    definition that cannot be used. The same engine object gives the same value (the
    oracles' caches key on it), until its ``custom_ops`` is replaced."""
    declared = getattr(engine, "custom_ops", None)
    if declared is None:
        return BUILTIN
    name = engine_name(engine)
    if not isinstance(declared, Mapping):
        raise EngineError(f"engine {name!r}: custom_ops must be a dict (op name -> SymPy form or "
                          f"verifier.CustomOp), not {type(declared).__name__}")
    cached = getattr(engine, "adverify_vocabulary", None)
    if cached is not None and cached[0] is declared:
        return cached[1]
    ops, fingerprints = [], {}
    for op_name, definition in declared.items():
        if BUILTIN.knows(op_name):
            raise EngineError(f"engine {name!r}: custom op {op_name!r} shadows adverify's built-in {op_name}: "
                              "adverify already checks it; remove it from custom_ops, or give your op another name")
        if op_name not in getattr(engine, "ops", {}):
            raise EngineError(f"engine {name!r}: custom op {op_name!r} is not in its ops: add the function "
                              f"that computes it as ops[{op_name!r}]")
        try:
            op, fingerprints[op_name] = compile_custom(op_name, definition)
        except DefinitionError as e:
            raise EngineError(f"engine {name!r}: {e}") from None
        ops.append(op)
    vocabulary = BUILTIN.extended(*ops, fingerprints=fingerprints) if ops else BUILTIN
    try:
        engine.adverify_vocabulary = (declared, vocabulary)
    except (AttributeError, TypeError):   # __slots__: compiled again when asked again
        pass
    return vocabulary


def engine_ops(engine: Any, vocabulary: Vocabulary = BUILTIN) -> list[str]:
    """The engine's ops that ``vocabulary`` has a record of (of either mode), by the IR's
    names (an engine's ``var`` is the IR's ``variance``: floor.tensor_ops.ENGINE_NAMES)."""
    return sorted({IR_NAMES.get(name, name) for name in engine.ops} & set(vocabulary.tensor))


def describe_adapters() -> list[dict[str, str]]:
    """Every registered adapter (``adverify engines``): its group, "builtin" or "adapter" (a
    real engine, an optional extra); installed or not, and if not, ``install``, the pip line
    that adds it; its ops and dtype; and whether it has a tensor adapter (``--tensor``) with
    which structural ops."""
    rows = []
    for name in ADAPTERS:
        builtin = ADAPTERS[name].startswith("verifier.engines.builtin:")
        row = {"name": name, "group": "builtin" if builtin else "adapter", "install": "",
               "tensor": "yes" if name in TENSOR_ADAPTERS else "no", "tensor_ops": ""}
        try:
            engine = load_engine(name)
        except EngineError as e:
            # an adapter's extra is its engine's family name: torch-float32 is adverify[torch]
            extra = name.partition("-")[0]
            rows.append({**row, "status": "not installed", "dtype": "-", "ops": str(e),
                         "install": "" if builtin else f"pip install 'adverify[{extra}]'"})
            continue
        row.update(status="installed", dtype=engine_dtype(engine), ops=" ".join(engine_ops(engine)))
        if name in TENSOR_ADAPTERS:
            tensor = load_engine(name, tensor=True)
            row["tensor_ops"] = " ".join(o for o in engine_ops(tensor) if o in STRUCTURAL)
        rows.append(row)
    return rows
