"""The ways a case is checked. Each mode builds the truth about a case, asks the engine
through an executor and judges the answer; a ``Checker`` holds one and only caches its
references.

- ``Scalar``: a scalar expression, its gradient by reverse mode;
- ``Tensor``: a tensor program reduced as ``sum(out * W)``, judged through its lowered
  element DAG, then row by row of the Jacobian when the output is small (checking.jacobian);
- ``SecondOrder``: the Hessian from ``second_derivatives`` (truth.second);
- ``Forward``: a first-order mode, then the same case by ``forward_gradients``, judged
  against the same reference and against reverse mode (truth.forward).

An engine that answered twice (a second identical build, ``EngineRun.again``) has both
answers judged against the same reference (``judge_twice``): both within the bound is the
``nondeterministic`` note, not a discrepancy; one beyond it is ``inconsistent``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping, Protocol

from verifier.checking.jacobian import check_rows
from verifier.floor.ir import Node
from verifier.model import Case, EngineRun, Reference, Verdict
from verifier.truth.forward import MODE as FORWARD, forward_verdict
from verifier.truth.judge import judge, reference
from verifier.truth.lower import Lowered
from verifier.truth.second import second_judge, second_reference
from verifier.truth.tensor_judge import TensorReference, tensor_judge, tensor_reference

__all__ = ["Mode", "Executor", "ReferenceOf", "Scalar", "Tensor", "SecondOrder", "Forward", "mode_for",
           "judge_twice", "mode_suffix", "mode_label"]


class Executor(Protocol):
    """Where the engine runs (checking.executor): ``mode`` names the engine method to ask."""

    def run(self, expr: Node, point: Mapping[str, Any], mode: str = "reverse") -> EngineRun: ...


class ReferenceOf(Protocol):
    """The reference of a case in the checker's mode, from the checker's cache."""

    def __call__(self, case: Case, lowered: Lowered | None = None) -> Any: ...


class Mode(Protocol):
    """What a checker checks. ``tensor``, ``order`` and ``forward`` describe the mode for
    options and reports; nothing branches on them."""
    tensor: bool
    order: int
    forward: bool

    def reference(self, case: Case, dtype: str, lowered: Lowered | None = None) -> Any:
        """The truth ``check`` judges against (``lowered``: a tensor case's element DAG when
        the caller has it already; other modes have none)."""

    def check(self, case: Case, executor: Executor, reference_of: ReferenceOf) -> Verdict: ...


class Judged:
    """A mode that asks the engine once, by the method ``asks``, and judges that answer."""
    tensor = False
    order = 1
    forward = False
    asks = "reverse"

    def judge(self, ref: Any, run: EngineRun) -> Verdict:
        raise NotImplementedError

    def check(self, case: Case, executor: Executor, reference_of: ReferenceOf) -> Verdict:
        ref = reference_of(case)
        return judge_twice(self.judge, ref, executor.run(case.expr, case.point, mode=self.asks))


class Scalar(Judged):
    def reference(self, case: Case, dtype: str, lowered: Lowered | None = None) -> Reference:
        return reference(case, dtype)

    def judge(self, ref: Reference, run: EngineRun) -> Verdict:
        return judge(ref, run)

    def scalar_view(self, ref: Reference) -> tuple[Reference, Mapping[str, str]]:
        """The scalar reference the checks are judged against, and how checks name its variables."""
        return ref, {}


class Tensor(Judged):
    tensor = True

    def reference(self, case: Case, dtype: str, lowered: Lowered | None = None) -> TensorReference:
        return tensor_reference(case, dtype, lowered)

    def judge(self, ref: TensorReference, run: EngineRun) -> Verdict:
        return tensor_judge(ref, run)

    def check(self, case: Case, executor: Executor, reference_of: ReferenceOf) -> Verdict:
        verdict = super().check(case, executor, reference_of)
        return check_rows(case, verdict, reference_of, lambda row: executor.run(row.expr, row.point))

    def scalar_view(self, ref: TensorReference) -> tuple[Reference, Mapping[str, str]]:
        return ref.scalar, ref.labels


class SecondOrder(Judged):
    order = 2
    asks = "second"

    def reference(self, case: Case, dtype: str, lowered: Lowered | None = None) -> Reference:
        return second_reference(case, dtype)

    def judge(self, ref: Reference, run: EngineRun) -> Verdict:
        return second_judge(ref, run)


class Forward:
    """``reverse`` (Scalar or Tensor) first; where it agrees, forward mode too."""
    order = 1
    forward = True

    def __init__(self, reverse: Scalar | Tensor):
        self.reverse = reverse

    @property
    def tensor(self) -> bool:
        return self.reverse.tensor

    def reference(self, case: Case, dtype: str, lowered: Lowered | None = None) -> Any:
        return self.reverse.reference(case, dtype, lowered)

    def check(self, case: Case, executor: Executor, reference_of: ReferenceOf) -> Verdict:
        verdict = self.reverse.check(case, executor, reference_of)
        ref = reference_of(case)
        scalar, labels = self.reverse.scalar_view(ref)
        if not scalar.valid or verdict.is_discrepancy:
            # outside a domain nothing is held against either mode; a reverse finding comes first
            return verdict
        run = executor.run(case.expr, case.point, mode=FORWARD)
        run = replace(run, value=None, again_value=None)   # the forward value was judged with reverse mode's run
        forward = judge_twice(self.reverse.judge, ref, run)
        both = forward_verdict(verdict, forward, scalar, labels)
        # what either run noted or printed stays with the one verdict
        notes = tuple(dict.fromkeys(verdict.notes + forward.notes + both.notes))
        output = "\n".join(o for o in dict.fromkeys((verdict.output, forward.output, both.output)) if o)
        return replace(both, notes=notes, output=output)


def mode_for(tensor: bool = False, order: int = 1, forward: bool = False) -> Mode:
    """The mode of the command line's ``--tensor``, ``--order`` and ``--forward``. Order 2
    takes precedence over both others, as it always has: forward mode checks first
    derivatives (campaigns refuse ``--forward`` with ``--order 2``)."""
    if order == 2:
        return SecondOrder()
    first = Tensor() if tensor else Scalar()
    return Forward(first) if forward else first


def judge_twice(judge: Callable[[Any, EngineRun], Verdict], ref: Any, run: EngineRun) -> Verdict:
    """``run`` judged against ``ref``, with what the engine printed kept on the verdict. When
    a second identical build answered differently (``run.again``), that answer is judged
    against the same reference: if both or neither are discrepancies, the first's verdict
    stands, noted ``nondeterministic`` (last-bit differences of an engine that sums in an
    address-dependent order are no derivative bug); if only one is, ``inconsistent``."""
    first = judge(ref, replace(run, again=None, again_value=None))
    notes = first.notes
    if run.again is not None:
        second = judge(ref, replace(run, grads=run.again, again=None, again_value=None,
                                    value=run.again_value if run.again_value is not None else run.value))
        if first.is_discrepancy != second.is_discrepancy:
            return Verdict("inconsistent", _differs(run), output=run.output,
                           notes=("engine-output",) if run.output else ())
        notes += ("nondeterministic",)
    if run.output:
        notes += ("engine-output",)
    return replace(first, notes=tuple(dict.fromkeys(notes)), output=run.output or first.output)


def _differs(run: EngineRun) -> str:
    """The words the runner used when any difference was ``inconsistent``."""
    if tuple(run.again or ()) != tuple(run.grads):
        return f"a second identical graph gave gradients {list(run.again or ())} instead of {list(run.grads)}"
    return f"a second identical graph gave the value {run.again_value!r} instead of {run.value!r}"


def mode_suffix(order: int = 1, tensor: bool = False) -> str:
    """What a signature gains for the mode it was found in (forward mode's ``:forward`` is
    the verdict's own, from search.blame.signature): a Hessian fault is not the first-order
    fault of the same op, and a tensor program's is not a scalar expression's."""
    return (":order2" if order == 2 else "") + (":tensor" if tensor else "")


def mode_label(order: int = 1, forward: bool = False, tensor: bool = False) -> str:
    """A mode in the words of the command line that checks it: "order 2", "forward",
    "tensor", "tensor, forward" — "" for scalar reverse mode at order 1."""
    return ", ".join(w for w, on in (("tensor", tensor), ("order 2", order == 2), ("forward", forward)) if on)
