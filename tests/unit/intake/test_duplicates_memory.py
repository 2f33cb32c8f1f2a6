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
    ga, gb = dup._profile(a.text)[0], dup._profile(b.text)[0]
    common = set(ga) & set(gb)
    assert common
    objects_a = {g: g for g in ga}
    assert all(objects_a[g] is next(x for x in gb if x == g) for g in common)
    assert not any(isinstance(v, (set, frozenset)) for v in dup._derived(a))


def test_a_candidate_keeps_its_layers_and_no_bigrams():
    """A candidate is scored by its layers (in any generation): it keeps neither its bigram
    counts nor its bigrams; the places it names are a tuple."""
    once = TicketSnapshot("once", "清河路小区路灯不亮已经三天了", T, "路灯")
    twice = TicketSnapshot("twice", "路灯不亮，路灯不亮好几天了", T, "路灯")
    for s in (once, twice):
        kept = dup._derived(s)
        assert kept[dup._GRAMS] == () and kept[dup._REPEATS] == ()
        assert kept[dup._BITS][0] is dup._VOCAB
        assert not any(isinstance(v, (dict, set, frozenset)) for v in kept[:dup._BITS])
    assert dup._derived(once)[dup._PLACES] and isinstance(dup._derived(once)[dup._PLACES], tuple)
    assert len(dup._derived(twice)[dup._BITS]) == 3  # (a bigram twice: two layers)


def test_a_text_without_layers_keeps_its_bigrams_and_the_counts_above_one(monkeypatch):
    monkeypatch.setattr(dup, "_VOCAB", {})
    monkeypatch.setattr(dup, "_VOCAB_MAX", 0)
    dup._layers.cache_clear()
    try:
        twice = TicketSnapshot("twice", "路灯不亮，路灯不亮好几天了", T, "路灯")
        kept = dup._derived(twice)
        assert kept[dup._BITS] is None
        assert kept[dup._GRAMS] == tuple(dup._profile(twice.text)[0])
        assert kept[dup._REPEATS] == ("路灯", 1, "灯不", 1, "不亮", 1)
    finally:
        dup._layers.cache_clear()


def test_texts_of_two_generations_score_in_the_candidates_vocabulary(monkeypatch):
    """Texts of two vocabulary generations: the new text's bigrams are looked up in the
    candidate's vocabulary; texts with repeated bigrams and without, both ways: the scores are
    duplicate_score's."""
    from services.intake.domain.duplicates import DuplicatePolicy, duplicate_score

    monkeypatch.setattr(dup, "_VOCAB", {})
    monkeypatch.setattr(dup, "_GENERATION", 0)
    monkeypatch.setattr(dup, "_VOCAB_MAX", 14)
    dup._layers.cache_clear()
    try:
        texts = ["路灯不亮已经三天了晚上很黑", "路灯不亮，路灯不亮好几天了晚上很黑",
                 "晚上很黑路灯不亮三天", "小区门口路灯不亮晚上很黑很黑"]
        snaps = [TicketSnapshot(f"s{i}", t, T + timedelta(minutes=i), "路灯")
                 for i, t in enumerate(texts)]
        for s in snaps:
            dup._derived(s)  # (each in turn: the small vocabulary turns over)
        assert len({id(s.derived[dup._BITS][0]) for s in snaps}) > 1  # (vocabularies)
        policy = DuplicatePolicy(threshold=0.01, min_text_similarity=0.0)
        for new in snaps:
            others = [s for s in snaps if s is not new]
            expected = sorted(((o.ticket_id, round(duplicate_score(new, o, policy), 4))
                               for o in others), key=lambda s: -s[1])
            assert find_duplicates(new, others, policy) == [e for e in expected if e[1] >= 0.01]
    finally:
        dup._layers.cache_clear()
