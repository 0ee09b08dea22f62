"""The PostgreSQL fixtures start a real server on 127.0.0.1: data written through one
connection is read back through another, each ``fresh_database`` is a database of its own,
and a server started by ``postgres_server`` is gone, files and all, once it is left."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from support import fresh_database, postgres_server


def test_a_real_server_keeps_what_is_written(postgres_db: str) -> None:
    with psycopg.connect(postgres_db) as conn:
        server, address = conn.execute("SELECT version(), host(inet_server_addr())").fetchone()
        conn.execute("CREATE TABLE leads (lead_id text PRIMARY KEY, score integer NOT NULL)")
        conn.cursor().executemany("INSERT INTO leads VALUES (%s, %s)", [("L1", 71), ("L2", 12)])
    assert server.startswith("PostgreSQL ")
    assert address == "127.0.0.1"
    # A second connection sees the committed rows, and the server enforces the constraints.
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT lead_id, score FROM leads ORDER BY lead_id").fetchall() == [("L1", 71), ("L2", 12)]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO leads VALUES ('L1', 5)")


def test_fresh_databases_are_independent(postgres_url: str) -> None:
    first, second = fresh_database(postgres_url), fresh_database(postgres_url)
    assert first != second
    for url, score in ((first, 1), (second, 2)):
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('leads')").fetchone() == (None,)
            conn.execute("CREATE TABLE leads (lead_id text, score integer)")
            conn.execute("INSERT INTO leads VALUES ('L1', %s)", (score,))
    for url, score in ((first, 1), (second, 2)):
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == url.rsplit("/", 1)[1]
            assert conn.execute("SELECT score FROM leads").fetchall() == [(score,)]


def test_a_server_left_is_stopped_and_deleted(postgres_url: str) -> None:
    # postgres_url first: where PostgreSQL cannot start, this skips (or fails) like the others.
    with postgres_server() as url:
        assert url != postgres_url
        with psycopg.connect(url) as conn:
            data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
        assert (data_dir / "PG_VERSION").is_file()
    assert not data_dir.parent.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    # The session's server is untouched.
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
