"""Outside-like requests (`tools/recognition/outside.py`, session 8): the place only in the
title or the text, no address, no pin, as issue 15's 60 requests were typed (county 0 of 60
then). The gazetteer must find the county of every one, and what is routed automatically must
go where the author meant (docs/recognition.md: 20/20 counties, 19 routed, all right)."""

from __future__ import annotations

from tools.recognition.outside import OUTSIDE, outside, render


def test_twenty_requests_of_every_kind_of_place_wording():
    assert len(OUTSIDE) == 20
    assert len({text for _, _, text, _, _ in OUTSIDE}) == 20
    assert len({county for *_, county, _ in OUTSIDE}) >= 9  # counties and zones across the city


def test_the_county_is_found_in_the_words_and_what_is_routed_is_right():
    found = outside()
    assert found["county_right"] == found["requests"] == 20
    assert found["county_sure"] >= 18
    assert found["routed_right"] >= found["routed"] - 1
    assert found["routed"] >= 16
    assert "20 outside-like requests" in render(found)
