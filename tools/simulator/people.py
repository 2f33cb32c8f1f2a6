"""Made-up citizens and enterprises: names, phone numbers, ID numbers, addresses.

All values are random draws from small pools (no real person's data). ID numbers and credit
codes carry valid check characters on purpose, so intake's privacy protection sees data that
looks real to a detector.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tools.simulator.city import Estate, Territory, load_data

PERSON = "person"
ENTERPRISE = "enterprise"
ANONYMOUS = "anonymous"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True, slots=True)
class Citizen:
    """Who submits: a person, an enterprise (with a contact person) or someone anonymous."""

    ref: str
    kind: str
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None
    address: str | None = None
    company: str | None = None
    credit_code: str | None = None
    territory: str | None = None


def id_check_char(first17: str) -> str:
    """GB 11643 check character of a resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def credit_check_char(first17: str) -> str:
    """GB 32100 check character of a unified social credit code."""
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def make_name(rng: random.Random) -> str:
    data = load_data("city.json")
    given = "".join(rng.choice(data["given_chars"]) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(data["surnames"]) + given


def make_phone(rng: random.Random) -> str:
    return rng.choice(load_data("city.json")["phone_prefixes"]) + f"{rng.randrange(10**8):08d}"


def make_id_number(rng: random.Random, territory: str) -> str:
    region = load_data("city.json")["id_region_codes"][territory]
    birth = f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = f"{region}{birth}{rng.randrange(1000):03d}"
    return first17 + id_check_char(first17)


def make_credit_code(rng: random.Random, territory: str) -> str:
    region = load_data("city.json")["id_region_codes"][territory]
    body = "".join(rng.choice(_CREDIT_ALPHABET) for _ in range(9))
    first17 = f"91{region}{body}"
    return first17 + credit_check_char(first17)


def exact_address(rng: random.Random, territory: Territory, estate: Estate) -> str:
    return (f"{territory.name}{estate.road}{estate.number}号{estate.name}"
            f"{rng.randint(1, 24)}栋{rng.randint(1, 4)}单元{rng.randint(1, 18)}{rng.randint(1, 4):02d}室")


class CitizenPool:
    """Hands out citizens; some come back (a share of requests are from repeat callers)."""

    def __init__(self, rng: random.Random, repeat_share: float = 0.15) -> None:
        self._rng = rng
        self._repeat_share = repeat_share
        self._by_territory: dict[str, list[Citizen]] = {}
        self._count = 0

    def _next_ref(self) -> str:
        self._count += 1
        return f"C{self._count:07d}"

    def person(self, territory: Territory, estate: Estate, *, fresh: bool = False) -> Citizen:
        known = self._by_territory.setdefault(territory.code, [])
        if known and not fresh and self._rng.random() < self._repeat_share:
            return self._rng.choice(known)
        rng = self._rng
        citizen = Citizen(self._next_ref(), PERSON, make_name(rng), make_phone(rng),
                          make_id_number(rng, territory.code), exact_address(rng, territory, estate),
                          territory=territory.code)
        known.append(citizen)
        return citizen

    def enterprise(self, territory: Territory) -> Citizen:
        rng = self._rng
        return Citizen(self._next_ref(), ENTERPRISE, make_name(rng), make_phone(rng),
                       company=rng.choice(territory.companies),
                       credit_code=make_credit_code(rng, territory.code), territory=territory.code)

    def anonymous(self) -> Citizen:
        return Citizen(self._next_ref(), ANONYMOUS)
