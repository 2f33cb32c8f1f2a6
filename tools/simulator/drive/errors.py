"""What can go wrong when the driver acts, named so the summary can count errors by kind."""

from __future__ import annotations


class ActionError(Exception):
    """One action could not be done; ``kind`` groups it in the summary (e.g. ``intake:422``)."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class TicketGaveUpError(ActionError):
    """A ticket's later actions are pointless (it was rejected, merged into a case, or never
    reached a unit). ``expected`` marks the platform's legitimate outcomes (a rejection, a
    merge): the summary counts those as outcomes, not as errors."""

    def __init__(self, kind: str, detail: str = "", *, expected: bool = False):
        super().__init__(kind, detail)
        self.expected = expected
