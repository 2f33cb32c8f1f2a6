"""The eighth held-out part (`tools/recognition/eighth.py`, session 15, issue 15, written blind by
a new hand): 330+ requests written apart from the generator, the keyword lists and the other
parts, every subcategory at least six times, one matter each but for the second matters named in
`SECOND_MATTER`, never trained on, no near-copy of a matter of the train part, of the generated
test part, or of a request of the second to seventh parts or the outside requests (the leak check
rejects Jaccard >= 0.4). It measures the shipped model again; no model is bound here."""

from __future__ import annotations

from collections import Counter

from tools.recognition.eighth import (
    SECOND_MATTER,
    describe,
    digest,
    eighth_requests,
    near_others,
)
from tools.recognition.fifth import fifth_requests
from tools.recognition.fourth import fourth_requests
from tools.recognition.fresh import fresh_requests
from tools.recognition.seventh import seventh_requests
from tools.recognition.sixth import sixth_requests
from tools.recognition.third import third_requests

# The part as finished and leak-checked before any model read it: a label, text or request
# changed afterwards changes this.
DIGEST = "02b79deb8e3544dd4a6b85344da39d1614f93aedc507a0c644468cfb87038635"


def test_the_eighth_part_covers_every_subcategory_and_copies_no_other_part(taxonomy,
                                                                         labelled_split):
    eighth = eighth_requests()
    assert len(eighth) >= 330
    per = Counter(r.subcategory for r in eighth)
    assert set(per) == set(taxonomy.parent_of)
    assert min(per.values()) >= 6
    for r in eighth:
        taxonomy.check(r.category, r.subcategory)
        assert r.split == "eighth"
    assert len({r.case for r in eighth}) == len(eighth)
    assert len({r.text for r in eighth}) == len(eighth)  # one text per matter
    assert {r.case.split(":", 1)[1] for r in eighth} >= SECOND_MATTER
    train, test = labelled_split
    others = (train + test + fresh_requests() + third_requests() + fourth_requests()
              + fifth_requests() + sixth_requests() + seventh_requests())
    assert not {r.text for r in eighth} & {r.text for r in others}
    assert near_others() == []


def test_the_eighth_part_holds_what_it_says():
    """About 2 % with a second matter, a place on about a quarter, every request type."""
    d = describe()
    assert d["n"] == len(eighth_requests())
    assert d["second_matter"] == len(SECOND_MATTER) == 7
    assert set(d["types"]) == {"complaint", "consultation", "suggestion", "help", "praise",
                               "report"}
    assert d["address_typed"] + d["place_in_words_found"] >= d["n"] // 5


def test_the_eighth_part_is_the_one_finished_before_the_read():
    assert digest() == DIGEST
