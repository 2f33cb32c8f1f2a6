import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from tests.integration.sla.harness import DBNAME, SlaProcess


@pytest.fixture(scope="session")
def sla_database(infra):
    admin = infra.model_copy(update={"pg_dbname": "postgres"})
    with psycopg.connect(admin.pg_conninfo(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)).fetchone():
            try:
                conn.execute(SQL("CREATE DATABASE {}").format(Identifier(DBNAME)))
            except psycopg.errors.DuplicateDatabase:
                pass
    return infra


@pytest.fixture
def sla_process(sla_database):
    made: list[SlaProcess] = []

    def make(**kwargs) -> SlaProcess:
        process = SlaProcess(sla_database, **kwargs)
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill()
