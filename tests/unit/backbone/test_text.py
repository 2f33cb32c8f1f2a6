"""backbone.text: the characters people's text may not hold, found wherever they are in a
parsed body, named in the refusal; the ones text does hold pass."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from backbone.text import unwritable_in, writable


@pytest.mark.parametrize("odd", ["\x00", "\x01", "\x0b", "\x0c", "\x1f", "\x7f", "\ufffe",
                                 "\uffff", "\ud800", "\udfff"])
def test_each_unwritable_character_is_found_wherever_it_is(odd: str) -> None:
    assert unwritable_in(f"路灯{odd}") == odd
    assert unwritable_in({"a": [{"b": ["x", f"y{odd}"]}]}) == odd
    assert unwritable_in({f"key{odd}": 1}) == odd
    with pytest.raises(ValueError, match=f"U[+]{ord(odd):04X}"):
        writable({"comment": f"很好{odd}"})


def test_what_text_holds_passes() -> None:
    body = {"comment": "很好。\r\n\t谢谢 😀 ＡＢＣ１２３", "n": 3, "ok": None, "list": [1.5, True]}
    assert unwritable_in(body) is None and writable(body) is body


def test_a_model_refuses_it_with_the_character_named() -> None:
    class Rating(BaseModel):
        comment: str

        @model_validator(mode="before")
        @classmethod
        def _writable(cls, data: object) -> object:
            return writable(data)

    with pytest.raises(ValidationError, match=r"U\+0000"):
        Rating.model_validate({"comment": "好\x00"})
    assert Rating.model_validate({"comment": "好"}).comment == "好"


def test_a_body_nested_deep_is_walked_without_recursion() -> None:
    deep: object = "x\x01"
    for _ in range(10_000):
        deep = [deep]
    assert unwritable_in(deep) == "\x01"
