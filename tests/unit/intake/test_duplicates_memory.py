"""What 并单 keeps per text is bounded by its caches' size, not by history, and a text whose
derived values were forgotten scores the same when it comes back (in a snapshot re-made from
the index): the caches only spare work."""

from datetime import UTC, datetime, timedelta

from services.intake.domain import duplicates as dup
from services.intake.domain.duplicates import TicketSnapshot, find_duplicates

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WORDS = "路灯不亮噪音扰民道路破损积水垃圾清运占道经营违章停车油烟排放施工夜间广告牌松动井盖缺失"


def _text(n: int) -> str:
    # distinct texts sharing many bigrams, as a city's requests do
    picks = [WORDS[(n * 7 + k * 3) % (len(WORDS) - 2):][:3] for k in range(6)]
    return f"清河路{n % 50}号附近" + "，".join(picks) + f"，第{n}次"


def _snap(n: int, ticket: str | None = None) -> TicketSnapshot:
    return TicketSnapshot(ticket_id=ticket or f"t{n}", text=_text(n),
                          submitted_at=T + timedelta(minutes=n), category="路灯",
                          address=f"阜阳市颍州区清河路{n % 50}号")


def test_the_text_caches_stay_within_their_size_and_answers_do_not_change():
    first = [_snap(n) for n in range(40)]
    new = _snap(1000)
    before = find_duplicates(new, first)
    for n in range(dup._TEXTS_KEPT + 200):  # more texts than the caches keep
        dup._derived(_snap(10_000 + n))
    for cached in (dup._profile, dup._places_in, dup.named_places, dup.normalise_address):
        assert cached.cache_info().currsize <= dup._TEXTS_KEPT
    # the first texts' entries are gone; the same tickets read again (new snapshots, as from
    # the index) and the ones kept all along score exactly as before
    again = [_snap(n) for n in range(40)]
    assert find_duplicates(_snap(1000), again) == before
    assert find_duplicates(new, first) == before
    assert before  # (the texts do match: the comparison means something)


def test_a_texts_bigrams_are_shared_strings_and_no_set_is_kept_per_text():
    a, b = _snap(1), _snap(2)
    ga, gb = dup._derived(a).grams, dup._derived(b).grams
    common = set(ga) & set(gb)
    assert common
    objects_a = {g: g for g in ga}
    assert all(objects_a[g] is next(x for x in gb if x == g) for g in common)
    assert not any(isinstance(v, (set, frozenset)) and len(v) == len(ga)
                   for v in dup._derived(a).row if v is not dup._derived(a).places)
