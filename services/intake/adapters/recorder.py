"""Intake's recorder: the backbone's, which also runs read-model writes in the event transaction.

`app.save(*aggregates, sql=[Statement(...)], progress=...)` commits the aggregates' events,
the read-model rows and the projector's position together, so the read models never drift
from the event store, whatever crashes when. The hook itself lives in backbone.store; this
name stays because stored configuration points at it.
"""

from __future__ import annotations

from backbone.store import Statement, TrackedRecorder

__all__ = ["RECORDER_TOPIC", "IntakeRecorder", "Statement"]


class IntakeRecorder(TrackedRecorder):
    pass


RECORDER_TOPIC = "services.intake.adapters.recorder:IntakeRecorder"
