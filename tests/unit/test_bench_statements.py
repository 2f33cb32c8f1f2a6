"""bench/statements.py's pure parts: statement shapes and kinds, and reading the server log of
one database (multi-line statements, the extended protocol's steps, transactions by service)."""

from __future__ import annotations

from bench.statements import kind, parse_log, shape

DB = "e2e_ab12cd34"


def line(pid: int, app: str, text: str, db: str = DB, ms: float = 0.5) -> str:
    return f"2026-12-05 20:06:42.123 UTC [{pid}] db={db} app={app} LOG:  duration: {ms} ms  {text}"


def test_shapes_take_the_values_out_and_fold_lists():
    assert shape("INSERT INTO x (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING") == (
        "INSERT INTO x (a, b) VALUES (?) ON CONFLICT DO NOTHING")
    assert shape("SELECT *\n  FROM t WHERE id = 5 AND s = 'it''s' AND c1 = $7;") == (
        "SELECT * FROM t WHERE id = ? AND s = ? AND c1 = ?")


def test_kinds_see_writes_inside_common_table_expressions():
    assert kind("WITH lease AS (INSERT INTO b VALUES (1) RETURNING *) SELECT * FROM lease") == (
        "WITH..INSERT")
    assert kind("WITH n AS (SELECT 1) SELECT * FROM n") == "WITH..SELECT"
    assert kind("begin") == "BEGIN"
    assert kind("") == ""


def test_the_log_of_one_database_by_service_and_transaction():
    log = "\n".join([
        line(1, "bench-statements", "statement: SELECT pg_stat_clear_snapshot()"),
        line(1, "ms-intake", "statement: SELECT 1", db="other"),  # another database
        line(2, "ms-intake", "statement: BEGIN"),
        line(2, "ms-intake", "parse <unnamed>: "),
        "\tINSERT INTO t (a)",
        "\tVALUES ($1)",
        line(2, "ms-intake", "bind <unnamed>: "),
        "\tINSERT INTO t (a)",
        "\tVALUES ($1)",
        line(2, "ms-intake", "execute <unnamed>: ", ms=1.0),
        "\tINSERT INTO t (a)",
        "\tVALUES ($1)",
        line(2, "ms-intake", "statement: COMMIT", ms=3.0),
        line(3, "ms-dispatch", "statement: "),  # a pool's pre-ping
        line(3, "ms-dispatch", "execute _pg3_0: SELECT * FROM e WHERE id = $1"),
        line(3, "ms-dispatch", "execute _pg3_0: SELECT * FROM e WHERE id = $1"),
        line(1, "bench-statements", "statement: SELECT pg_stat_clear_snapshot()"),
        line(3, "ms-dispatch", "execute _pg3_0: SELECT * FROM e WHERE id = $1"),  # after the run
    ])
    parsed = parse_log(log, DB)
    assert parsed["count"][("intake", "INSERT INTO t (a) VALUES (?)")] == 1
    assert parsed["ms"][("intake", "INSERT INTO t (a) VALUES (?)")] == 2.0  # parse+bind+execute
    assert parsed["count"][("dispatch", "SELECT * FROM e WHERE id = ?")] == 2
    assert parsed["transactions"]["intake"] == {"write": 1}
    assert parsed["transactions"]["dispatch"] == {"autocommit empty (pool pre-ping)": 1,
                                                  "autocommit read": 2}
    assert not any(service == "bench-statements" for service, _ in parsed["count"])


def test_an_excerpt_that_ends_before_the_second_snapshot_is_the_run_after_the_first():
    log = "\n".join([
        line(1, "bench-statements", "statement: SELECT pg_stat_clear_snapshot()"),
        line(1, "bench-statements", "statement: SELECT xact_commit FROM pg_stat_database"),
        line(3, "ms-dispatch", "execute _pg3_0: SELECT * FROM e WHERE id = $1"),
        line(3, "ms-dispatch", "execute _pg3_0: SELECT * FROM e WHERE id = $1"),
    ])
    assert parse_log(log, DB)["count"][("dispatch", "SELECT * FROM e WHERE id = ?")] == 2
