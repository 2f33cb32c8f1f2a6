"""The demo loader loads once per platform: a marker keyed by database, broker and prefix."""

from __future__ import annotations

import json

from backbone.settings import ServiceSettings
from tools import demo


def test_the_marker_names_one_platform():
    a = demo.marker_path(ServiceSettings(pg_dbname="minsheng"))
    assert a == demo.marker_path(ServiceSettings(pg_dbname="minsheng"))
    assert a != demo.marker_path(ServiceSettings(pg_dbname="other"))
    assert a != demo.marker_path(ServiceSettings(pg_dbname="minsheng", topic_prefix="x."))


def test_a_second_load_does_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "DATA", tmp_path)
    marker = demo.marker_path(ServiceSettings())
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"loaded_at": "2026-11-27T08:00:00+08:00", "tickets": 653}))

    def must_not_drive(*args, **kwargs):
        raise AssertionError("the demo month was loaded twice")

    monkeypatch.setattr(demo, "wait_until_ready", must_not_drive)
    monkeypatch.setattr(demo, "demo_accounts", lambda: None)  # identity's PostgreSQL: not here
    assert demo.load() == 0
    assert "already loaded" in capsys.readouterr().out


def test_bad_knobs_are_refused_with_a_reason(monkeypatch):
    monkeypatch.setenv("DEMO_DAYS", "many")
    try:
        demo._int_env("DEMO_DAYS", 30)
    except SystemExit as exc:
        assert "DEMO_DAYS" in str(exc)
    else:
        raise AssertionError("a bad DEMO_DAYS was accepted")


def test_where_names_every_page_a_newcomer_needs(capsys):
    # `make up` ends with it: a KeyError here once failed make up after the demo had loaded
    assert demo.where() == 0
    out = capsys.readouterr().out
    for page in ("8108/login", "8101/me", "8104/hall", "8105/dashboard", "8102/console",
                 "8107/docs", "8109/docs"):
        assert page in out, page
