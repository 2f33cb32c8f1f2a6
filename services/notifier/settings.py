"""The notifier's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from backbone.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    service: str = "notifier"
    http_port: int = 8109
    # the city's SMS gateway (the contract of intake's MINSHENG_INTAKE_SMS_URL)
    notifier_sms_url: str = ""
    notifier_sms_token: str = ""
    notifier_sms_sign: str = "阜阳12345"
    # the WeChat message service (subscribe messages for the mini-program, template messages
    # for the official account)
    notifier_wechat_url: str = ""
    notifier_wechat_token: str = ""
    notifier_gateway_timeout_s: float = 5.0
    notifier_intake_url: str = "http://127.0.0.1:8101"  # the contact of a ticket, per SMS
    # a role-system token for intake, issued by the identity service; empty: minted locally
    # with the development signing key (development and test only)
    notifier_intake_token: str = ""
    notifier_first_retry_s: float = 30.0
    notifier_retry_factor: float = 4.0
    notifier_max_retry_s: float = 3600.0
    notifier_max_attempts: int = 6
    notifier_stale_s: float = 120.0
    # the longest an idle loop sleeps: new notices wake the deliverer and settled attempts the
    # outbox at once, retries wake it when due; this covers another replica's work and resends
    notifier_poll_s: float = 5.0
    notifier_concurrency: int = 20
    # While notices flow, the notices' consumer asks the broker for a fetch of 64 KB or this
    # many ms (0: answer at the first notice): a notice 200 ms later is nothing to a citizen,
    # and a batch then takes, attempts and records many notices at once instead of one
    notifier_gather_ms: int = 200

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        for name, url in (("SMS", self.notifier_sms_url), ("WeChat", self.notifier_wechat_url)):
            if not url:
                problems.append(f"MINSHENG_NOTIFIER_{name.upper()}_URL is not set (the {name} "
                                "gateway answers leave by)")
        return problems
