"""One request, one code (一诉一码): the ticket code a citizen can read out over the phone.

Canonical form: ``FY-251127-00042-K``
    region (2 letters) - day (YYMMDD) - sequence (5 digits, per region and day) - check character.

The check character is a weighted sum modulo the prime 31, written in a 31-symbol alphabet that
leaves out 0/O, 1/I and Z/2 (the pairs people mishear or misread). Why this scheme:

* Every position of the payload holds either a letter (A-Z, value 0..25) or a digit (value 0..9),
  so two different symbols at one position differ by less than 31; with a weight that is non-zero
  modulo the prime 31 every single substitution changes the sum, hence is detected.
* Adjacent weights differ (weights are 1, 2, 3, ...), so swapping two different neighbours changes
  the sum by (w_i - w_j) * (a - b), which is non-zero modulo a prime: every adjacent transposition
  is detected.
* The digits 2..9 of the check alphabet carry their own value, so swapping the last sequence digit
  with a digit check character is also a plain transposition, and also caught.
A substitution that breaks the shape (a digit among the region letters, an ``O`` as check) is
rejected by the format check before the sum is looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from backbone.privacy import echo

# Value = index. '2'..'9' sit at indices 2..9 on purpose (see module docstring).
CHECK_ALPHABET = "AB23456789CDEFGHJKLMNPQRSTUVWXY"
_MODULUS = 31
SEQUENCE_DIGITS = 5
MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1

_CANONICAL_RE = re.compile(r"^([A-Z]{2})(\d{6})(\d{5})([" + CHECK_ALPHABET + r"])$")
_SEPARATORS_RE = re.compile(r"[\s\-_.·—－]+")

assert len(CHECK_ALPHABET) == _MODULUS == len(set(CHECK_ALPHABET))


class InvalidTicketCodeError(ValueError):
    """The text is not a ticket code: wrong shape, impossible date, or wrong check character."""


@dataclass(frozen=True, slots=True)
class TicketCode:
    region: str
    day: date
    sequence: int
    check: str

    def __str__(self) -> str:
        return f"{self.region}-{self.day:%y%m%d}-{self.sequence:0{SEQUENCE_DIGITS}d}-{self.check}"


def _symbol_value(symbol: str) -> int:
    if symbol.isdigit():
        return int(symbol)
    return ord(symbol) - ord("A")


def _check_character(payload: str) -> str:
    """The check symbol that makes the weighted sum over payload + check zero modulo 31."""
    total = sum((i + 1) * _symbol_value(s) for i, s in enumerate(payload))
    check_weight = len(payload) + 1
    # Solve total + check_weight * c == 0 (mod 31); 31 is prime, so the inverse exists.
    c = (-total * pow(check_weight, -1, _MODULUS)) % _MODULUS
    return CHECK_ALPHABET[c]


def _weighted_sum(payload: str, check: str) -> int:
    total = sum((i + 1) * _symbol_value(s) for i, s in enumerate(payload))
    return (total + (len(payload) + 1) * CHECK_ALPHABET.index(check)) % _MODULUS


def normalise_code(text: str) -> str:
    """Upper-case and drop spaces, hyphens and dots, the way a code is typed or read out."""
    return _SEPARATORS_RE.sub("", text.strip()).upper()


def issue_code(region: str, day: date, sequence: int) -> str:
    """The canonical code for the ``sequence``-th ticket of ``region`` on ``day``."""
    region = region.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", region):
        raise InvalidTicketCodeError(f"region prefix must be two letters A-Z, got {echo(region)}")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise InvalidTicketCodeError(
            f"sequence must be between 0 and {MAX_SEQUENCE} for one region and day, got {sequence}"
        )
    # (the day's digits without strftime, and the code composed once: this runs per submission)
    yymmdd = f"{day.year % 100:02d}{day.month:02d}{day.day:02d}"
    number = f"{sequence:0{SEQUENCE_DIGITS}d}"
    code = f"{region}-{yymmdd}-{number}-{_check_character(region + yymmdd + number)}"
    _remember_canonical(code, code)  # what canonical_code would parse it into, known here
    return code


def parse_code(text: str) -> TicketCode:
    """Parse a typed or spoken code (any case, with or without separators); raise if invalid."""
    compact = normalise_code(text)
    match = _CANONICAL_RE.match(compact)
    if match is None:
        raise InvalidTicketCodeError(
            f"{echo(text)} is not a ticket code: expected 2 letters, 6-digit date, "
            f"{SEQUENCE_DIGITS}-digit sequence and a check character, like FY-251127-00042-K"
        )
    region, yymmdd, seq, check = match.groups()
    try:
        day = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError as exc:
        raise InvalidTicketCodeError(f"{echo(text)} has an impossible date {yymmdd}") from exc
    if _weighted_sum(region + yymmdd + seq, check) != 0:
        raise InvalidTicketCodeError(
            f"{echo(text)} fails its check character: a character was probably misheard or mistyped"
        )
    return TicketCode(region, day, int(seq), check)


def validate_code(text: str) -> bool:
    """True when ``text`` is a well-formed code whose check character matches."""
    try:
        parse_code(text)
    except InvalidTicketCodeError:
        return False
    return True


_CANONICAL: dict[str, str] = {}  # text -> its canonical code; forgotten whole when full
_CANONICAL_MAX = 4096


def _remember_canonical(text: str, code: str) -> None:
    if len(_CANONICAL) >= _CANONICAL_MAX:
        _CANONICAL.clear()
    _CANONICAL[text] = code


def canonical_code(text: str) -> str:
    """The canonical spelling of a valid code (for lookup by code); raises if invalid.
    Memoised: a submission's code is made canonical several times (its ticket's id, its
    case's, its index row), each a parse, a date and a check sum; a code `issue_code` has
    just composed is known canonical without parsing it (it is composed in that spelling,
    its check character computed: 5,000 random codes compared in the unit tests)."""
    found = _CANONICAL.get(text)
    if found is None:
        found = str(parse_code(text))
        _remember_canonical(text, found)
    return found
