"""Benchmark: the workbench's ticket list at 100,000 tickets.

    PYTHONPATH=.:proto .venv/bin/python -m bench.workbench_list --rows 100000

Bulk-loads `--rows` synthetic tickets (masked Chinese text built from Fuyang places and
common complaints, spread over a year, eight counties, 40 units, every status) into an
isolated schema of its own database (`bench_workbench`, schema `wb_<random>`, dropped at the
end), with the service's own DDL and the same bigram function, then times the list's real
query code (services.workbench.adapters.readmodel.page and count) for typical filters, deep
keyset pages and full-text searches, and compares the bigram GIN index with pg_trgm on the
same searches. Prints p50 / p99 per query kind in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.settings import ServiceSettings
from services.workbench.adapters import readmodel
from services.workbench.domain.listing import Order, TicketFilter
from services.workbench.domain.search import bigrams
from services.workbench.domain.words import CHANNEL_ZH, COUNTY_ZH

PLACES = ["阳光小区", "清河路", "颍州中路", "人民路", "三清路", "文峰街道", "鼓楼街道", "京九路",
          "淮河路", "北京路", "中南大街", "双清路", "颍河西路", "东城小区", "锦绣华庭", "幸福家园"]
PROBLEMS = ["路灯不亮", "夜间施工噪音扰民", "停水没有通知", "垃圾清运不及时", "电梯经常困人",
            "占道经营影响通行", "下水道堵塞", "物业乱收费", "拖欠农民工工资", "路面坑洼积水",
            "油烟污染", "违章搭建", "公交站牌损坏", "学校周边交通拥堵", "燃气管道漏气",
            "噪音扰民", "小区停车难", "宠物扰民", "供暖温度不达标", "违规收取费用"]
TAILS = ["已经一周", "反映多次无人处理", "希望尽快解决", "影响老人出行", "晚上十点以后",
         "请相关部门核实", "电话138****5678", "住户多次投诉"]
STATUSES = ["assigned", "signed_for", "replied", "notified", "closed", "closed", "closed",
            "reopened", "queued", "bounced_back"]
RATINGS = ["", "", "satisfied", "satisfied", "basically_satisfied", "dissatisfied", "unrated"]


def synthetic(n: int, rng: random.Random, start: datetime) -> list[tuple]:
    counties = list(COUNTY_ZH)
    channels = list(CHANNEL_ZH)
    units = [f"unit-{i:02d}" for i in range(40)]
    rows = []
    for k in range(n):
        place = rng.choice(PLACES)
        text = f"{place}{rng.choice(PROBLEMS)}，{rng.choice(TAILS)}"
        title = text[:10]
        address = f"{rng.choice(list(COUNTY_ZH.values()))}{place}**号"
        at = start + timedelta(seconds=rng.randrange(365 * 86400))
        status = rng.choice(STATUSES)
        unit = rng.choice(units)
        co = [rng.choice(units)] if rng.random() < 0.05 else []
        due = at + timedelta(days=rng.choice([1, 5, 10, 15])) if status != "queued" else None
        rows.append((
            str(uuid.uuid4()), f"FY-{at:%y%m%d}-{k:06d}-K", rng.choice(channels),
            rng.choice(counties), "", address, title, text, rng.choice(
                ["urban", "environment", "housing", "traffic", "labour", "utilities"]),
            "", "complaint", "general", unit, co, [unit, *co], status, at,
            at + timedelta(hours=rng.randrange(1, 300)), due, rng.random() < 0.08,
            rng.choice(RATINGS) if status in ("notified", "closed") else "",
            1 if status == "reopened" else 0, "", "", "",
            bigrams(" ".join((title, text, address)))))
    return rows


def load(conninfo: str, schema: str, rows: list[tuple]) -> float:
    began = time.perf_counter()
    statements = readmodel.ddl(schema)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        conn.execute(statements[0])
        conn.execute(SQL("CREATE TABLE {}.ticket_grams (ticket_id text PRIMARY KEY,"
                         " grams text[] NOT NULL)").format(Identifier(schema)))
        with conn.cursor() as cur, cur.copy(SQL("COPY {}.tickets FROM STDIN").format(
                Identifier(schema))) as copy:
            for row in rows:
                copy.write_row(row[:-1])
        with conn.cursor() as cur, cur.copy(SQL("COPY {}.ticket_grams FROM STDIN").format(
                Identifier(schema))) as copy:
            for row in rows:
                copy.write_row((row[0], row[-1]))
        for statement in statements[1:]:
            conn.execute(statement)
        conn.execute(SQL("ANALYZE {}.tickets, {}.ticket_grams").format(
            Identifier(schema), Identifier(schema)))
    return time.perf_counter() - began


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{name:<46} p50 {statistics.median(ms):7.1f} ms   p99 {p99:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    settings = ServiceSettings(environment="development", pg_dbname="bench_workbench",
                               service="bench")
    admin = settings.model_copy(update={"pg_dbname": "postgres"})
    with psycopg.connect(admin.pg_conninfo(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bench_workbench'"
                            ).fetchone():
            conn.execute("CREATE DATABASE bench_workbench")
    schema = f"wb_{uuid.uuid4().hex[:8]}"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = synthetic(args.rows, rng, start)
    print(f"loaded {args.rows} tickets into bench_workbench.{schema} in "
          f"{load(settings.pg_conninfo(), schema, rows):.1f} s")
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    newest = Order("submitted_at", True)
    counties, units = list(COUNTY_ZH), [f"unit-{i:02d}" for i in range(40)]

    def month() -> tuple[date, date]:
        first = date(2026, rng.randrange(1, 13), 1)
        return first, first + timedelta(days=27)

    def list_request(f: TicketFilter, order: Order = newest) -> None:
        readmodel.page(pool, schema, f, order, limit=50)
        readmodel.count(pool, schema, f, cap=10_000)

    cases = {
        "first page, no filter (page + count)": lambda: list_request(TicketFilter()),
        "county + status + month (page + count)": lambda: list_request(TicketFilter(
            county=rng.choice(counties), status=rng.choice(STATUSES),
            date_from=month()[0], date_to=month()[1])),
        "a unit's own list (page + count)": lambda: list_request(TicketFilter(
            unit=rng.choice(units))),
        "overdue + dissatisfied (page + count)": lambda: list_request(TicketFilter(
            overdue=True, rating="dissatisfied")),
        "search 2 chars + county (page + count)": lambda: list_request(TicketFilter(
            q=rng.choice(["路灯", "噪音", "停水", "物业", "电梯"]), county=rng.choice(counties))),
        "search place + problem (page + count)": lambda: list_request(TicketFilter(
            q=f"{rng.choice(PLACES)} {rng.choice(['路灯', '噪音', '垃圾'])}")),
        "sort by deadline, unit (page only)": lambda: readmodel.page(
            pool, schema, TicketFilter(unit=rng.choice(units)), Order("due_at", False),
            limit=50),
    }
    for name, fn in cases.items():
        fn()  # warm
        print(summary(name, timed(fn, args.runs)))

    deep: list[float] = []
    for _ in range(max(args.runs // 20, 5)):
        f = TicketFilter(county=rng.choice(counties))
        cursor = ""
        for _page in range(20):
            began = time.perf_counter()
            _, cursor = readmodel.page(pool, schema, f, newest, limit=50, cursor=cursor)
            deep.append((time.perf_counter() - began) * 1000)
    print(summary("keyset pages 1..20 of a county (each page)", deep))

    # The alternative for search: pg_trgm over the same text, with its GIN index.
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        began = time.perf_counter()
        conn.execute(SQL("CREATE INDEX tickets_trgm ON {}.tickets USING gin ("
                         + readmodel.HAYSTACK + " gin_trgm_ops)").format(Identifier(schema)))
        print(f"pg_trgm GIN index built in {time.perf_counter() - began:.1f} s")
        sizes = conn.execute(SQL(
            "SELECT pg_size_pretty(pg_relation_size(%s)), pg_size_pretty(pg_relation_size(%s))"
        ), (f"{schema}.ticket_grams_grams", f"{schema}.tickets_trgm")).fetchone()
        print(f"index sizes: bigram array {sizes[0]}, pg_trgm {sizes[1]}")

    def trgm(term: str) -> None:
        with pool.connection() as conn:
            conn.execute(SQL("SELECT ticket_id FROM {}.tickets WHERE " + readmodel.HAYSTACK
                             + " LIKE %s ORDER BY submitted_at DESC, ticket_id DESC LIMIT 50"
                             ).format(Identifier(schema)), (f"%{term}%",)).fetchall()

    def grams(term: str) -> None:
        readmodel.page(pool, schema, TicketFilter(q=term), newest, limit=50)

    for label, terms in (("2 chars", ["路灯", "噪音", "停水", "物业", "电梯"]),
                         ("4+ chars", ["路灯不亮", "夜间施工", "垃圾清运", "阳光小区"]),
                         ("rare 4 chars", ["宠物扰民", "供暖温度", "公交站牌"])):
        print(summary(f"search {label}: bigram array (page)", timed(
            lambda t=terms: grams(rng.choice(t)), args.runs // 2)))
        print(summary(f"search {label}: pg_trgm (page)", timed(
            lambda t=terms: trgm(rng.choice(t)), args.runs // 2)))
    pool.close()
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))
    print(f"dropped schema {schema}")


if __name__ == "__main__":
    main()
