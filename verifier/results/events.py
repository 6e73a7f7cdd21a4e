"""events.jsonl: the log a campaign appends to as it goes (a start record, verdict counts
every few seconds, every finding in full, oracle disagreements), read back line by line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from verifier.floor.serial import FormatError, expr_from_json, expr_to_json, loads, point_from_json, point_to_json
from verifier.results.schema import STR, check_dict, check_type

__all__ = ["EVENTS_FORMAT", "EVENTS_VERSION", "DISAGREEMENTS_LOGGED", "event_lines", "logged_disagreements"]

EVENTS_FORMAT = "adverify-events"
EVENTS_VERSION = 1
MAX_EVENTS_BYTES = 64 << 20


def event_lines(folder: Path) -> list[bytes]:
    path = folder / "events.jsonl"
    try:
        with path.open("rb") as f:
            data = f.read(MAX_EVENTS_BYTES + 1)
    except OSError as e:
        raise FormatError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if len(data) > MAX_EVENTS_BYTES:
        raise FormatError(f"{str(path)!r} is larger than {MAX_EVENTS_BYTES} bytes")
    lines = data.split(b"\n")
    if lines[-1].strip():   # no newline at the end: a record the kill cut short
        lines = lines[:-1]
    return lines


DISAGREEMENTS_LOGGED = 20   # oracle disagreements a campaign's log keeps the case of


def logged_disagreements(folder: Path) -> list[dict[str, Any]]:
    """The oracle disagreements a campaign logged, each checked and written afresh from
    what was read (reason, expr, point): a merge carries them into its own log."""
    out = []
    for i, line in enumerate(event_lines(Path(folder)), 1):
        if b"oracle-disagreement" not in line:
            continue
        where = f"events.jsonl line {i}"
        rec = check_dict(loads(line, where), where)
        if rec.get("event") != "oracle-disagreement":
            continue
        check_type(rec.get("reason"), STR, f"{where}.reason")
        out.append({"reason": rec["reason"], "expr": expr_to_json(expr_from_json(rec.get("expr"), f"{where}.expr", None)),
                    "point": point_to_json(point_from_json(rec.get("point"), f"{where}.point"))})
    return out
