import string
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.ticket_code import (
    CHECK_ALPHABET,
    InvalidTicketCodeError,
    canonical_code,
    issue_code,
    normalise_code,
    parse_code,
    validate_code,
)

regions = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
sequences = st.integers(min_value=0, max_value=99_999)
# Anything a person could type in one position of a code.
TYPABLE = string.ascii_uppercase + string.digits


@given(regions, days, sequences)
def test_issued_code_round_trips(region, day, sequence):
    code = issue_code(region, day, sequence)
    parsed = parse_code(code)
    assert (parsed.region, parsed.day, parsed.sequence) == (region, day, sequence)
    assert str(parsed) == code
    assert parsed.check in CHECK_ALPHABET


@given(regions, days, sequences, st.data())
def test_every_single_substitution_is_rejected(region, day, sequence, data):
    compact = normalise_code(issue_code(region, day, sequence))
    position = data.draw(st.integers(min_value=0, max_value=len(compact) - 1))
    replacement = data.draw(st.sampled_from([c for c in TYPABLE if c != compact[position]]))
    mutated = compact[:position] + replacement + compact[position + 1 :]
    assert not validate_code(mutated)


@given(regions, days, sequences)
def test_every_adjacent_transposition_is_rejected(region, day, sequence):
    compact = normalise_code(issue_code(region, day, sequence))
    for i in range(len(compact) - 1):
        if compact[i] == compact[i + 1]:
            continue
        swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :]
        assert not validate_code(swapped), swapped


def test_exhaustive_substitutions_for_one_code():
    compact = normalise_code(issue_code("FY", date(2025, 11, 27), 42))
    for i, original in enumerate(compact):
        for c in TYPABLE:
            if c != original:
                assert not validate_code(compact[:i] + c + compact[i + 1 :])


def test_check_alphabet_avoids_confusable_symbols():
    for confusable in "01OIZ":
        assert confusable not in CHECK_ALPHABET


def test_parse_normalises_case_spaces_and_hyphens():
    code = issue_code("FY", date(2025, 11, 27), 42)
    spoken = " " + code.lower().replace("-", " ") + " "
    assert canonical_code(spoken) == code
    assert validate_code(code.replace("-", ""))
    assert code.startswith("FY-251127-00042-")


@pytest.mark.parametrize(
    "text", ["", "FY", "F1-251127-00042-A", "FY-251327-00042-A", "FY-251127-0042-A", "FY-251127-00042-O"]
)
def test_malformed_codes_are_rejected_with_a_reason(text):
    assert not validate_code(text)
    with pytest.raises(InvalidTicketCodeError, match=r"ticket code|date|check"):
        parse_code(text)


@pytest.mark.parametrize("region,sequence", [("F", 1), ("F1", 1), ("FY", -1), ("FY", 100_000)])
def test_issue_refuses_bad_parts(region, sequence):
    with pytest.raises(InvalidTicketCodeError):
        issue_code(region, date(2025, 1, 1), sequence)


@given(regions, days, sequences)
def test_canonical_code_of_an_issued_code_is_the_issued_code(region, day, sequence):
    """issue_code tells canonical_code its code without a parse: the same answer a parse
    gives, for the code as issued and as typed (lower case, no hyphens)."""
    code = issue_code(region, day, sequence)
    assert canonical_code(code) == str(parse_code(code)) == code
    assert canonical_code(code.lower().replace("-", " ")) == code
