"""Analytics' configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from backbone.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    service: str = "analytics"
    http_port: int = 8105
    ranking_min_volume: int = 30  # a unit with fewer handled tickets in a month is not ranked
    auto_publish: bool = True  # publish a month's report once the clock passes its end...
    publish_after_hours: float = 24.0  # ...plus this grace for late facts
    publish_check_s: float = 2.0
    fact_grace_s: float = 10.0  # see adapters/fact_store.FactTail
    # The live KPI state keeps the facts of this many tickets (the ones refolded last, ~5 KB
    # each): a fact of another ticket reads its earlier facts back from the facts table.
    # Enough for every ticket in flight; the state's memory no longer grows with history.
    analytics_tickets_kept: int = 2048
    # ...and the buckets of the last this many days, ISO weeks and months (relative to the
    # latest business time seen; 0: all of them): what the dashboard and the monthly report
    # read by default (a month and the previous one: their figures, rankings and daily trends;
    # a month's buckets hold large histograms, ~20 KB each). An older period's figures are
    # folded from the facts table when asked, and this many buckets of such folds are kept
    # (LRU). docs/analytics.md, "What the buckets keep"
    analytics_days_kept: int = 62
    analytics_weeks_kept: int = 9
    analytics_months_kept: int = 3
    analytics_old_buckets_cached: int = 2048
    # The facts' consumer asks the broker for a fetch of 256 KB or this many ms while events
    # flow (0: answer at the first event): the live KPIs are looked at, not waited on
    facts_gather_ms: int = 200
    # unit registry + taxonomy (names) and gazetteer (places.json); default: dispatch's data files
    registry_dir: str = ""
    # dispatch's landmark file (the same variable, MINSHENG_DISPATCH_PLACES_EXTRA: a city's
    # estates and roads): with the gazetteer, place names hot terms leave out (they say where)
    dispatch_places_extra: str = ""
    audit_url: str = "http://127.0.0.1:8106"  # the ledger, for `rebuild`
    audit_token: str = ""  # an auditor token for the ledger; minted locally when empty
    # The dashboard map's base layer: an XYZ tile URL of the operator's own tile server
    # ("http://tiles.example/{z}/{x}/{y}.png"); empty = the shipped city outline only.
    map_tile_url: str = ""
    map_tile_attribution: str = ""
    map_outline_file: str = ""  # GeoJSON-like {bbox, polygon}; default: intake's city outline
    # The surge worker (python -m services.analytics.entrypoints.surges, faust-streaming):
    # hopping windows per county x subcategory, see domain/surges.py and tools/surges.py
    surges_http_port: int = 8115  # its /healthz, /readyz, /metrics
    surge_window_min: int = 30
    surge_hop_min: int = 5
    surge_min_count: int = 4
    surge_ratio: float = 6.0
    surge_baseline_days: int = 14
    surge_chance: float = 1e-6  # how rarely the key's usual rate may reach the count by chance
    surges_datadir: str = ".data/faust"
    # a fetch of the surge worker waits for this much, or this long (adapters/surge_transport.py)
    surges_fetch_min_bytes: int = 64 * 1024
    surges_fetch_wait_ms: int = 1500  # faust's own wait: an idle worker fetches no more often
    # The worker's producer (the tables' changelogs, its two topics, the alerts) holds a
    # partition's batch this long before sending it (faust's `producer_linger`; its default 0
    # sent a produce request per round trip while a fetched batch was worked through)
    surges_producer_linger_ms: int = 500
    # how long the broker waits for a silent worker before giving its partitions to another
    # (faust's `broker_session_timeout`): a worker restarted after kill -9 waits this long
    surges_session_timeout_s: float = 60.0
