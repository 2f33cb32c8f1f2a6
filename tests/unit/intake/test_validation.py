from datetime import datetime, timedelta

import pytest

from services.intake.domain.attachments import (
    MB,
    Attachment,
    AttachmentRejectedError,
    check_attachment_counts,
    inspect_attachment,
)
from services.intake.domain.rate_limit import SubmissionThrottle, TokenBucket
from services.intake.domain.validation import (
    Acceptance,
    AcceptanceFlag,
    AnsweredTicket,
    Rejection,
    RejectionReason,
    Submission,
    load_acceptance_rules,
    load_city_boundary,
    review,
)

NOW = datetime(2025, 11, 27, 10, 0)


def decide(text, **kw):
    kw.setdefault("lat", 32.89)
    kw.setdefault("lon", 115.81)
    return review(Submission(text=text, submitted_at=NOW, **kw), rules=load_acceptance_rules(),
                  city=load_city_boundary())


@pytest.mark.parametrize("text,reason", [
    ("", RejectionReason.EMPTY), ("？？？ 123", RejectionReason.EMPTY), ("你好", RejectionReason.EMPTY),
    ("楼下着火了快来人", RejectionReason.EMERGENCY),
    ("法院判决已经下来了我不服，要求改判", RejectionReason.OUT_OF_SCOPE),
    ("加微信领红包，贷款秒批", RejectionReason.OUT_OF_SCOPE),
    ("傻逼 王八蛋 去死", RejectionReason.ABUSIVE),
])
def test_rejections(text, reason):
    result = decide(text)
    assert isinstance(result, Rejection) and result.reason_code == reason and result.reason_text_zh


def test_accepts_real_request_even_if_angry():
    result = decide("清河路路灯坏了一个星期没人修，王八蛋一样的办事效率，请尽快修好")
    assert isinstance(result, Acceptance) and AcceptanceFlag.CONTAINS_ABUSE in result.flags


def test_short_text_with_picture_is_not_empty():
    assert decide("看图", attachment_count=1).accepted


@pytest.mark.parametrize("lat,lon,inside", [
    (32.89, 115.81, True),    # 颍州区
    (33.26, 115.37, True),    # 界首市
    (32.63, 116.26, True),    # 颍上县
    (32.64, 115.59, True),    # 阜南县
    (33.85, 115.78, False),   # 亳州
    (32.63, 117.00, False),   # 淮南
    (31.82, 117.23, False),   # 合肥
])
def test_location_is_flagged_never_rejected(lat, lon, inside):
    result = decide("清河路路灯坏了一个星期", lat=lat, lon=lon)
    assert result.accepted
    assert (AcceptanceFlag.OUTSIDE_CITY not in result.flags) == inside


def test_no_location_flag():
    assert AcceptanceFlag.NO_LOCATION in decide("清河路路灯坏了一个星期", lat=None, lon=None).flags


def test_already_answered_within_window_only():
    prev = AnsweredTicket("FY-251120-00007-K", "清河路路灯坏了一个星期，晚上很黑",
                          NOW - timedelta(days=3), citizen="p1")
    result = decide("清河路路灯坏了一个星期，晚上很黑！", previously_answered=[prev], citizen="p1")
    assert isinstance(result, Rejection) and result.reason_code == RejectionReason.ALREADY_ANSWERED
    assert "FY-251120-00007-K" in result.reason_text_zh
    old = AnsweredTicket(prev.code, prev.text, NOW - timedelta(days=45), citizen="p1")
    assert decide("清河路路灯坏了一个星期，晚上很黑！", previously_answered=[old],
                  citizen="p1").accepted


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"\x00" * 100
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100


@pytest.mark.parametrize("content,kind", [(PNG, "image"), (JPEG, "image"), (PDF, "document"), (MP4, "video")])
def test_attachment_type_from_content(content, kind):
    attachment = inspect_attachment(content)
    assert attachment.kind == kind and len(attachment.sha256) == 64


@pytest.mark.parametrize("content,fragment", [
    (b"", "empty"), (b"MZ\x90\x00" + b"\x00" * 100, "accepted types"), (b"plain text, named photo.jpg", "unrecognised"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * MB), "limit"),
])
def test_attachment_rejections(content, fragment):
    with pytest.raises(AttachmentRejectedError, match=fragment):
        inspect_attachment(content)


def test_attachment_counts():
    video = Attachment("0" * 64, "video/mp4", "video", 10)
    check_attachment_counts([video])
    with pytest.raises(AttachmentRejectedError, match="at most 1"):
        check_attachment_counts([video, video])


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_token_bucket_refills_with_the_clock():
    clock = FakeClock()
    bucket = TokenBucket(capacity=2, rate=1, clock=clock)
    assert bucket.try_take() and bucket.try_take() and not bucket.try_take()
    assert bucket.retry_after() == pytest.approx(1.0)
    clock.now = 0.5
    assert not bucket.try_take()
    clock.now = 1.0
    assert bucket.try_take()
    clock.now = 100
    assert bucket.available() == 2


def test_throttle_limits_citizen_and_adapter_independently():
    clock = FakeClock()
    throttle = SubmissionThrottle(clock, adapter_capacity=10, adapter_rate=1, citizen_capacity=2, citizen_rate=0.01)
    assert throttle.admit("wechat", "p1").allowed and throttle.admit("wechat", "p1").allowed
    refused = throttle.admit("wechat", "p1")
    assert not refused.allowed and refused.limited_by == "citizen" and refused.retry_after_seconds > 0
    for i in range(8):
        assert throttle.admit("wechat", f"c{i}").allowed
    assert throttle.admit("wechat", None).limited_by == "adapter"
    assert throttle.admit("hotline", "p2").allowed


def test_a_replayed_submission_gives_its_citizens_token_back_never_over_the_burst():
    clock = FakeClock()
    throttle = SubmissionThrottle(clock, citizen_capacity=2, citizen_rate=0.01)
    assert throttle.admit("wechat", "p1").allowed and throttle.admit("wechat", "p1").allowed
    throttle.citizen_replayed("p1")  # the second was a retry of the first: it made nothing
    assert throttle.admit("wechat", "p1").allowed
    assert not throttle.admit("wechat", "p1").allowed
    throttle.citizen_replayed("p2")  # a full bucket stays full
    throttle.citizen_replayed("p2")
    assert [throttle.admit("wechat", "p2").allowed for _ in range(3)] == [True, True, False]
