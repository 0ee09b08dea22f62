"""One connection layer over the two databases the lead store runs on.

Embedded SQLite (a file; nothing to start) and PostgreSQL (several workers or
machines), chosen by a URL: ``sqlite:///path/to/leads.db`` (or a bare path) and
``postgresql://user@host:port/db``. Statements are written once with ``?``
placeholders and the SQL both understand. A transaction returns only once its
writes are durable: SQLite runs in WAL mode with ``synchronous=FULL``, PostgreSQL
commits with its defaults (``fsync`` and ``synchronous_commit`` on).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SQLITE, POSTGRES = "sqlite", "postgresql"
BUSY_TIMEOUT_MS = 30_000
RETRIES = 8  # attempts of a transaction that lost a lock race (deadlock, "database is locked")


class StoreUnavailable(RuntimeError):
    """The store's database cannot be reached or opened (the message never holds a password)."""


def redact(url: str) -> str:
    """A database URL without its password (for logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def dialect_of(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a store URL; ValueError for anything else."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return POSTGRES
    if scheme in ("sqlite", "") or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):  # a Windows drive letter
        return SQLITE
    raise ValueError(f"not a lead store URL: {redact(url)!r} (sqlite:///PATH or postgresql://USER@HOST:PORT/DB)")


def sqlite_path(url: str) -> Path:
    """The file of a SQLite store URL (``sqlite:///rel.db``, ``sqlite:////abs.db`` or a path)."""
    if url.lower().startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    if url.lower().startswith("sqlite:"):
        raise ValueError(f"not a SQLite URL: {url!r} (sqlite:///PATH)")
    return Path(url)


_PLACEHOLDER = re.compile(r"\?")


class Database:
    """A store database: one connection per thread, transactions that retry lost
    lock races, ``?`` placeholders on both dialects."""

    def __init__(self, url: str) -> None:
        self.url = str(url)
        self.dialect = dialect_of(self.url)
        self._local = threading.local()
        self._all: list[Any] = []
        self._fds: list[int] = []  # SQLite writers' lock files (one per thread)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({redact(self.url)!r})"

    @property
    def location(self) -> str:
        """Where the store is, without a password."""
        return str(sqlite_path(self.url).resolve()) if self.dialect == SQLITE else redact(self.url)

    # -- connections -------------------------------------------------------
    def _connect(self) -> Any:
        if self.dialect == SQLITE:
            path = sqlite_path(self.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")  # acknowledged means on disk
                conn.execute("PRAGMA secure_delete = ON")  # an erased lead is overwritten, not left in free pages
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the lead store {path}: {exc}") from None
            return conn
        import psycopg

        url = self.url.replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=10)  # blocks below open transactions
        except psycopg.Error as exc:
            message = str(exc).replace(self.url, redact(self.url)).strip().splitlines()[0]
            raise StoreUnavailable(f"cannot reach the lead store {redact(self.url)}: {message}") from None

    def connection(self) -> Any:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            conns, self._all = self._all, []
            fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing on the way out
                pass
        self._local = threading.local()

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    # -- transactions ----------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed (durably) when the block ends, rolled back on an error.

        SQLite takes the write lock at the start (``BEGIN IMMEDIATE``), so two
        writers queue instead of failing halfway. Use :meth:`run` to retry a
        transaction that lost a lock race."""
        conn = self.connection()
        if self.dialect == SQLITE:
            with self._writer_turn():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Cursor(conn.cursor(), SQLITE)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        else:
            try:
                with conn.transaction():  # BEGIN ... COMMIT, or ROLLBACK on an error
                    with conn.cursor() as cur:
                        yield Cursor(cur, POSTGRES)
            except BaseException as exc:
                if self._is_broken(exc) or conn.closed:
                    self._drop_connection()
                raise

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read-only transaction: one consistent view for its statements.

        Unlike :meth:`transaction`, SQLite does not take the write lock (a plain
        ``BEGIN``): in WAL mode readers and the one writer do not wait for each
        other, so scoring a stored lead never holds up an acknowledgement."""
        conn = self.connection()
        if self.dialect == SQLITE:
            conn.execute("BEGIN")
            try:
                yield Cursor(conn.cursor(), SQLITE)
            finally:
                conn.execute("COMMIT")  # ends the read snapshot; nothing was written
        else:
            try:
                with conn.transaction():
                    with conn.cursor() as cur:
                        yield Cursor(cur, POSTGRES)
            except BaseException as exc:
                if self._is_broken(exc) or conn.closed:
                    self._drop_connection()
                raise

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """SQLite writers (the workers' threads, the scorer process) wait for their turn on
        a lock file beside the database, woken the moment the writer before them is done.
        SQLite's own wait for its write lock sleeps in steps of up to 100 ms, which under
        load put hundreds of milliseconds on acknowledgements. No lock file (a platform
        without ``flock``): SQLite's own wait."""
        fd = self._lock_file()
        if fd is None:
            yield
            return
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int | None:
        # One descriptor per thread: flock does not make two threads sharing one wait for each other.
        fd = getattr(self._local, "lock_fd", None)
        if fd is None:
            try:
                import fcntl  # noqa: F401 - POSIX only
            except ImportError:
                return None
            path = sqlite_path(self.url)
            fd = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._local.lock_fd = fd
            with self._lock:
                self._fds.append(fd)
        return fd

    def run(self, work: Any, *args: Any) -> Any:
        """``work(cursor, *args)`` in a transaction, retried when it lost a lock race
        (PostgreSQL deadlock or serialisation failure, SQLite "locked")."""
        for attempt in range(RETRIES):
            try:
                with self.transaction() as cur:
                    return work(cur, *args)
            except Exception as exc:  # noqa: BLE001
                if attempt == RETRIES - 1 or not self._is_race(exc):
                    raise
                time.sleep(0.01 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _is_race(self, exc: Exception) -> bool:
        if self.dialect == SQLITE:
            return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        import psycopg.errors

        return isinstance(exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure,
                                psycopg.errors.LockNotAvailable, psycopg.OperationalError))

    def _is_broken(self, exc: BaseException) -> bool:
        if self.dialect == SQLITE:
            return False
        import psycopg

        return isinstance(exc, psycopg.OperationalError)


class Cursor:
    """A cursor taking ``?`` placeholders on both dialects."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cur = cursor
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == SQLITE else _PLACEHOLDER.sub("%s", sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        self._cur.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row."""
        if rows:
            self._cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    def fetchall(self) -> list[tuple]:
        """All rows of the last statement."""
        return list(self._cur.fetchall())

    def fetchone(self) -> tuple | None:
        """The next row of the last statement, or None."""
        return self._cur.fetchone()

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return int(self._cur.rowcount)
