"""sla's official schedules on `calendar.schedules` reach dispatch's sign-for rule (session 20):
a schedule PUT into sla moved sla's deadlines only, and dispatch told units (and marked them
late by) a deadline from the shipped files until it was released and restarted. Here: the
topic's message round trip, the rule it changes, and messages that are no valid schedule are
skipped (logged), never loaded, never a crash."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from minsheng.v1 import sla_calendar_pb2 as cal

from backbone import events
from backbone.settings import ServiceSettings
from services.dispatch.adapters.calendar_feed import ScheduleFeed
from services.dispatch.application.sign_for import SignForRule
from services.sla.application.schedules import (
    calendar_topic,
    raw_schedule,
    schedule_message,
    schedule_of,
)
from services.sla.domain.calendar import SHANGHAI, OfficialSchedule
from services.sla.domain.schedule_year import OfficialScheduleYear

# the eve of 春节 2027: the shipped (provisional) file has 2/5-2/10 off, Thu 2/11 working
ASSIGNED = dt.datetime(2027, 2, 4, 10, 0, tzinfo=SHANGHAI)


def end_of(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.max, tzinfo=SHANGHAI)


def notice(last_day_off: str, **more) -> dict:
    days = [dt.date(2027, 2, 5) + dt.timedelta(days=n)
            for n in range((dt.date.fromisoformat(last_day_off) - dt.date(2027, 2, 5)).days + 1)]
    return {"year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知 (test)",
            "holidays": [{"date": d.isoformat(), "name": "春节"} for d in days],
            "make_up_working_days": [{"date": "2027-02-20", "name": "春节"}], **more}


def message(body: dict, load_no: int = 1) -> bytes:
    return schedule_message(body, loaded_by="duchashi-1", loaded_at=ASSIGNED, load_no=load_no,
                            event_id=str(uuid.uuid4())).SerializeToString()


def test_the_message_round_trips_to_the_schedule_sla_validated():
    body = notice("2027-02-11")
    sent = cal.OfficialScheduleLoaded.FromString(message(body, load_no=2))
    assert (sent.year, sent.load_no, sent.loaded_by) == (2027, 2, "duchashi-1")
    assert sent.loaded_at.ToDatetime(tzinfo=dt.UTC) == ASSIGNED
    assert [d.name for d in sent.holidays] == ["春节"] * 7
    assert schedule_of(sent) == OfficialSchedule.from_dict(body)


def test_only_the_schedule_goes_out_and_its_free_text_masked():
    body = notice("2027-02-11", note="联系人张三 13812345678", source="通知 13812345678")
    sent = cal.OfficialScheduleLoaded.FromString(message(body))
    assert "13812345678" not in str(sent) and "note" not in str(sent)


def test_the_stored_events_message_keeps_its_id_and_key():
    year = OfficialScheduleYear(year=2027, body=notice("2027-02-11"), loaded_by="duchashi-1",
                                timestamp=ASSIGNED)
    year.load(body=notice("2027-02-12"), loaded_by="duchashi-2", at=ASSIGNED)
    first, second = year.collect_events()
    raw = raw_schedule(second, "ab" * 16)
    assert isinstance(raw, events.BareMessage) and raw.message.load_no == 2
    assert raw.event_id == events.event_id_for(year.id, 2) == raw_schedule(second).event_id
    headers = dict(events.kafka_headers(raw))
    assert headers["event_type"] == b"OfficialScheduleLoaded" and headers["producer"] == b"sla"
    assert raw_schedule(first).message.load_no == 1
    assert OfficialScheduleYear.create_id(2027) == year.id


def test_the_sla_relay_sends_a_loaded_schedule_to_the_calendar_topic_keyed_by_year():
    from backbone.relay import Publication
    from backbone.store import EventContext
    from services.sla.entrypoints.publications import translate_for

    settings = ServiceSettings(topic_prefix="t1.")
    translate = translate_for(settings, facts=None, policy_version="v")  # type: ignore[arg-type]
    year = OfficialScheduleYear(year=2027, body=notice("2027-02-11"), loaded_by="duchashi-1",
                                timestamp=ASSIGNED)
    (event,) = year.collect_events()
    (out,) = translate(Publication(event, 7, EventContext(trace_id="cd" * 16), "sla"))
    assert (out.topic, out.key) == ("t1.calendar.schedules", "2027")
    assert out.envelope.trace_id == "cd" * 16 and out.envelope.message.year == 2027


def test_a_schedule_on_the_topic_moves_the_sign_for_deadline_and_a_later_one_replaces_it():
    rule = SignForRule()
    feed = ScheduleFeed(ServiceSettings(), rule)
    assert rule("general", ASSIGNED) == end_of("2027-02-11")  # the shipped file
    assert feed.apply(b"2027", message(notice("2027-02-11")))
    assert rule("general", ASSIGNED) == end_of("2027-02-12")
    assert feed.apply(b"2027", message(notice("2027-02-12"), load_no=2))
    assert rule("general", ASSIGNED) == end_of("2027-02-15")  # Sat, Sun, then Monday
    assert feed.loaded == {2027: 2} and feed.skipped == 0
    assert rule("urgent", ASSIGNED) == ASSIGNED + dt.timedelta(hours=2)  # calendar hours


def test_what_is_no_valid_schedule_is_skipped_and_logged_without_its_text(caplog):
    rule = SignForRule()
    feed = ScheduleFeed(ServiceSettings(), rule)
    before = rule.calendar
    caplog.set_level(logging.WARNING)
    weekday_made_up = notice("2027-02-11")
    weekday_made_up["make_up_working_days"] = [{"date": "2027-02-17", "name": "春节"}]
    bad = [
        (b"2027", message({**notice("2027-02-11"), "source": " "})),  # no source
        (b"2027", message(weekday_made_up)),  # a Wednesday as make-up day
        (b"2027", message({**notice("2027-02-11"), "holidays": ["2028-01-01"]})),
        (b"2026", message(notice("2027-02-11"))),  # the key names another year
        (b"2027", b"\xff\xff not a schedule 13812345678"),
        (b"2027", None),  # a tombstone
    ]
    for key, value in bad:
        assert not feed.apply(key, value, "[0]@1")
    assert feed.skipped == len(bad) and feed.loaded == {}
    assert rule.calendar is before and rule("general", ASSIGNED) == end_of("2027-02-11")
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == len(bad)
    assert "13812345678" not in caplog.text
    assert feed.apply(b"2027", message(notice("2027-02-11")))  # and the next good one loads


def test_the_topic_is_named_with_the_prefix():
    assert calendar_topic(ServiceSettings(topic_prefix="p.")) == "p.calendar.schedules"
