"""Feedback's command bodies (a rating's comment, a callback's note, a reopen's reason) refuse
NUL and the other control characters, as intake does (a rating comment with NUL was taken,
201, session 17)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.feedback.entrypoints.http_judging import LinkRating, ReopenBody


def test_a_rating_comment_with_a_control_character_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"U\+0000"):
        LinkRating.model_validate({"token": "t", "rating": "satisfied", "comment": "好\x00"})
    with pytest.raises(ValidationError, match=r"U\+FFFE"):
        ReopenBody.model_validate({"reason": "没修好\ufffe"})
    ok = LinkRating.model_validate({"token": "t", "rating": "satisfied", "comment": "好\n谢谢"})
    assert ok.comment == "好\n谢谢"
