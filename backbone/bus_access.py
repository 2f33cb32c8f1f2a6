"""Who may do what on the bus: the Kafka ACLs of every principal (SASL/SCRAM user).

One principal per service and one per department system. A service writes only the topics it
publishes to (its relay's topics, and the dead letters of its consumers) and reads only the
topics it consumes; a department system reads only its own `assignments.<unit>`; the channel
adapters write `intake.requests` and read `intake.replies` and `citizen.notices`.

What each service reads and writes is read off its code (tests/unit/test_bus_access.py checks
this table against every topic the services' sources name, both ways):

    reads   the topics of its consumers (`IdempotentConsumer(topics=...)`, faust's sources)
    writes  its publications' `Outgoing(topic, ...)`, direct sends, and the dead-letter topic
            when it runs a consumer (a poison message is parked there)

Every service also creates the platform's base topics when they are missing
(backbone.kafka.ensure_topics at start), so it may DESCRIBE and CREATE them (neither reads nor
writes a record). Consumer groups: READ on its own groups, `minsheng.<prefix><service>...`.
No principal may alter ACLs, users or configurations: that is the administrator's
(a super user of the brokers), who runs `python -m tools.bus_security provision`.

Pure data: no I/O, no Kafka client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIFECYCLE = "tickets.events"
DEAD_LETTER = "tickets.dead-letter"
REQUESTS = "intake.requests"
REPLIES = "intake.replies"
NOTICES = "citizen.notices"
ASSIGNMENTS = "assignments."  # + unit code; a trailing "." or "*" marks a prefix below
CHECKPOINTS = "audit.checkpoints"
SURGES = "analytics.surges."
CALENDAR = "calendar.schedules"  # sla's official holiday schedules (compacted), for dispatch

# what backbone.kafka.base_topics makes (every service ensures them at start)
BASE_TOPICS = (LIFECYCLE, DEAD_LETTER, REQUESTS, REPLIES, NOTICES)


@dataclass(frozen=True)
class BusRole:
    """Topic names without the platform's prefix; a name ending in "*" is a prefix."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    creates: tuple[str, ...] = ()  # besides the base topics
    groups: tuple[str, ...] = ()  # consumer-group prefixes, after "minsheng.<prefix>"
    exact_groups: tuple[str, ...] = ()  # consumer groups by their whole name, the same way
    # topics named after a stream app's id (faust's table changelogs), after "minsheng.<prefix>"
    app_topics: tuple[str, ...] = ()
    base_topics: bool = True  # DESCRIBE + CREATE on the base topics (ensure_topics)


SERVICES: dict[str, BusRole] = {
    # submissions and bus requests' tickets -> lifecycle; answers to adapters -> replies
    "intake": BusRole(reads=(LIFECYCLE, REQUESTS), writes=(LIFECYCLE, REPLIES, DEAD_LETTER),
                      groups=("intake",)),
    # routing decisions -> lifecycle and the unit's assignments topic; sla's official
    # schedules read whole (no group) for the sign-for deadlines
    "dispatch": BusRole(reads=(LIFECYCLE, CALENDAR),
                        writes=(LIFECYCLE, ASSIGNMENTS + "*", DEAD_LETTER),
                        creates=(ASSIGNMENTS + "*", CALENDAR), groups=("dispatch",)),
    # deadlines, warnings, supervision orders -> lifecycle and the unit's assignments topic;
    # official holiday schedules -> calendar.schedules
    "sla": BusRole(reads=(LIFECYCLE,),
                   writes=(LIFECYCLE, ASSIGNMENTS + "*", CALENDAR, DEAD_LETTER),
                   creates=(CALENDAR,), groups=("sla",)),
    # ratings and reviews -> lifecycle; rating links -> citizen.notices
    "feedback": BusRole(reads=(LIFECYCLE,), writes=(LIFECYCLE, NOTICES, DEAD_LETTER),
                        groups=("feedback",)),
    # facts and surge alerts -> lifecycle; the surge worker's own topics and changelogs
    "analytics": BusRole(reads=(LIFECYCLE, SURGES + "*"),
                         writes=(LIFECYCLE, SURGES + "*", DEAD_LETTER),
                         creates=(SURGES + "*",), groups=("analytics",),
                         app_topics=("analytics-surges",)),
    # the ledger reads everything; signed checkpoints -> audit.checkpoints
    "audit": BusRole(reads=(LIFECYCLE,), writes=(CHECKPOINTS, DEAD_LETTER),
                     creates=(CHECKPOINTS,), groups=("audit",)),
    # the staff read model
    "workbench": BusRole(reads=(LIFECYCLE,), writes=(DEAD_LETTER,), groups=("workbench",)),
    # citizen.notices -> SMS / WeChat; each attempt's outcome -> lifecycle
    "notifier": BusRole(reads=(NOTICES,), writes=(LIFECYCLE,), groups=("notifier",)),
}

# the channel adapters (WeChat, 12345 web, hotline, app): one principal for the bridge
ADAPTERS = BusRole(reads=(REPLIES, NOTICES), writes=(REQUESTS,), groups=("adapter",),
                   base_topics=False)


# What ends a unit's own consumer-group names: a character no unit code holds (codes are
# a-z, 0-9, "-" and "."). A prefix of the code alone ("unit-housing", "unit-yingzhou") also
# named other units' groups ("unit-housing-fund", "unit-yingzhou.xihu"): a county's system
# could join a sub-district's group and take its partitions away (63 pairs of units).
UNIT_GROUP_SEPARATOR = "_"


def unit_role(unit_code: str) -> BusRole:
    """A department system: reads its own assignments topic, nothing else; its consumer groups
    are `minsheng.unit-<code>` and `minsheng.unit-<code>_<anything>`."""
    return BusRole(reads=(ASSIGNMENTS + unit_code,),
                   groups=(f"unit-{unit_code}{UNIT_GROUP_SEPARATOR}",),
                   exact_groups=(f"unit-{unit_code}",), base_topics=False)


def service_principal(service: str) -> str:
    """The SCRAM user name of a service (MINSHENG_KAFKA_SASL_USERNAME)."""
    return f"minsheng-{service}"


def unit_principal(unit_code: str) -> str:
    return f"unit-{unit_code}"


ADAPTERS_PRINCIPAL = "minsheng-adapters"


@dataclass(frozen=True)
class Grant:
    """One ALLOW ACL: `operation` on a topic or group named `name` (or every name starting
    with it when `prefixed`)."""

    principal: str
    resource: str  # "topic" | "group"
    name: str
    operation: str  # READ | WRITE | DESCRIBE | CREATE
    prefixed: bool = False


@dataclass
class Plan:
    """Every principal and its grants, for one topic prefix (tests use their own)."""

    prefix: str = ""
    grants: list[Grant] = field(default_factory=list)

    def principals(self) -> list[str]:
        return sorted({g.principal for g in self.grants})

    def of(self, principal: str) -> list[Grant]:
        return [g for g in self.grants if g.principal == principal]


def _topic(prefix: str, name: str) -> tuple[str, bool]:
    return (prefix + name[:-1], True) if name.endswith("*") else (prefix + name, False)


def grants_for(principal: str, role: BusRole, prefix: str = "") -> list[Grant]:
    out: list[Grant] = []

    def add(names: tuple[str, ...], *operations: str) -> None:
        for name in names:
            topic, prefixed = _topic(prefix, name)
            for op in operations:
                out.append(Grant(principal, "topic", topic, op, prefixed))

    add(role.reads, "READ", "DESCRIBE")
    add(role.writes, "WRITE", "DESCRIBE")
    add(role.creates, "CREATE", "DESCRIBE")
    if role.base_topics:
        add(BASE_TOPICS, "DESCRIBE", "CREATE")
    for app in role.app_topics:
        for op in ("READ", "WRITE", "CREATE", "DESCRIBE"):
            out.append(Grant(principal, "topic", f"minsheng.{prefix}{app}", op, True))
    for group in role.groups:
        out.append(Grant(principal, "group", f"minsheng.{prefix}{group}", "READ", True))
    for group in role.exact_groups:
        out.append(Grant(principal, "group", f"minsheng.{prefix}{group}", "READ", False))
    # one grant once (a topic read and written is described once)
    return list(dict.fromkeys(out))


def plan(units: list[str], prefix: str = "") -> Plan:
    """Grants of every service, the adapters and each of these units' systems."""
    p = Plan(prefix)
    for service, role in SERVICES.items():
        p.grants += grants_for(service_principal(service), role, prefix)
    p.grants += grants_for(ADAPTERS_PRINCIPAL, ADAPTERS, prefix)
    for unit in units:
        p.grants += grants_for(unit_principal(unit), unit_role(unit), prefix)
    return p
