"""The simulated city is realistic for intake's duplicate detector: few merges outside the
planted episodes, most inside them (deterministic for a seed, so these bounds never flake)."""

from collections import Counter

import pytest

from tools.simulator import build_plan
from tools.simulator.merges import measure
from tools.simulator.model import SUBMIT
from tools.simulator.texts import TEXT_FIELDS


@pytest.fixture(scope="module")
def demo_month():
    """What `make up` loads: 30 days at the demo's 10 a day, seed 7."""
    return build_plan(seed=7, days=30, per_day=10)


@pytest.fixture(scope="module")
def report(demo_month):
    return measure(demo_month)


def test_few_ordinary_requests_are_merged(report) -> None:
    # Real cities see a few per cent of duplicates; templated texts had 27% merged here.
    assert report.outside > 250
    assert report.share_outside < 0.06, report.render()


def test_planted_duplicates_are_merged(report, demo_month) -> None:
    # The first report of a matter is the case's primary; the rest should join it.
    for episode in ("episode.duplicate_burst", "episode.property_fee_run"):
        assert report.episode_share(episode) >= 0.8, report.render()
    assert report.episode_share("episode.jurisdiction_dispute") == 0.0


def test_merges_pair_requests_of_one_matter(report, demo_month) -> None:
    truths = demo_month.truths
    same_kind = sum(truths[new].subcategory == truths[into].subcategory
                    for new, into, _ in report.merged_pairs)
    assert same_kind >= 0.9 * len(report.merged_pairs), report.merged_pairs


def test_no_two_citizens_write_the_same_text(demo_month) -> None:
    texts = Counter()
    for action in demo_month.actions:
        if action.kind == SUBMIT and demo_month.truths[action.ticket].episode is None:
            request = action.payload["request"]
            texts["\n".join(request[f] for f in TEXT_FIELDS[action.payload["channel"]])] += 1
    assert texts.most_common(1)[0][1] == 1


def test_the_measure_is_deterministic() -> None:
    plan = build_plan(seed=5, days=4, per_day=30)
    first, second = measure(plan), measure(build_plan(seed=5, days=4, per_day=30))
    assert first.merged_pairs == second.merged_pairs
