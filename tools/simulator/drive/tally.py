"""What the driver did: counts, errors by kind, a progress line (stdlib only) and a summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

MILESTONES = ("submitted", "accepted", "rejected", "assigned", "signed_for", "bounced_back",
              "decided", "noted", "extension_asked", "replied", "rated", "called_back", "reopened")


@dataclass
class Tally:
    total: int = 0
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    sample_codes: list[str] = field(default_factory=list)  # a few ticket codes to follow
    started: float = field(default_factory=time.monotonic)
    finished: int = 0

    def count(self, what: str, n: int = 1) -> None:
        self.done[what] += n

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:200])

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> dict[str, object]:
        return {"actions": self.total, "finished": self.finished,
                **{k: self.done.get(k, 0) for k in MILESTONES},
                **{k: v for k, v in sorted(self.done.items()) if k not in MILESTONES},
                "errors": dict(self.errors.most_common()), "seconds": round(self.elapsed, 1)}

    def render_summary(self) -> str:
        lines = [f"simulated {self.finished}/{self.total} actions in {self.elapsed:.1f} s"]
        lines.append("  " + ", ".join(f"{k} {self.done.get(k, 0)}" for k in MILESTONES))
        extra = {k: v for k, v in sorted(self.done.items()) if k not in MILESTONES}
        if extra:
            lines.append("  " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        if self.errors:
            lines.append(f"  errors ({sum(self.errors.values())}):")
            for kind, n in self.errors.most_common():
                lines.append(f"    {n:6d}  {kind}  e.g. {self.examples.get(kind, '')}")
        else:
            lines.append("  no errors")
        return "\n".join(lines)


class Progress:
    """A one-line, tqdm-like progress display, redrawn at most every ``every`` seconds."""

    def __init__(self, tally: Tally, *, out: TextIO = sys.stderr, every: float = 0.25,
                 width: int = 24, enabled: bool | None = None):
        self.tally = tally
        self.out = out
        self.every = every
        self.width = width
        self.enabled = out.isatty() if enabled is None else enabled
        self._last = 0.0

    def update(self, position: datetime | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.every):
            return
        self._last = now
        t = self.tally
        share = t.finished / t.total if t.total else 0.0
        bar = "#" * int(share * self.width)
        rate = t.finished / t.elapsed if t.elapsed > 0 else 0.0
        when = position.strftime("%m-%d %H:%M") if position else "--"
        line = (f"\r[{bar:<{self.width}}] {share:4.0%} {t.finished}/{t.total} "
                f"sim {when} {rate:6.1f}/s sub {t.done['submitted']} rep {t.done['replied']} "
                f"rat {t.done['rated']} reo {t.done['reopened']} err {sum(t.errors.values())}")
        self.out.write(line[:160])
        self.out.flush()

    def close(self, position: datetime | None) -> None:
        if self.enabled:
            self.update(position, force=True)
            self.out.write("\n")
            self.out.flush()
