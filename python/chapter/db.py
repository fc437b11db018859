"""Database reads and writes, the chapter's "database reads and writes -> asyncio" row: N small
transactions (read an account by its key, add a fixed delta to its balance, insert a ledger row
keyed by the transaction's id, commit) against PostgreSQL (psycopg 3) or SQLite (sqlite3), the
twin of the Rust ``db`` scenario: the same tables (made by ``decision-table gen db``), the same
transactions from the same seed, the same digest of the tables read back.

    decision-table gen db --db sqlite:data/db.sqlite
    python -m chapter db --db sqlite:data/db.sqlite --model threading --workers 8
    scripts/pg.sh start /tmp/pg      # prints postgresql://postgres@127.0.0.1:PORT/postgres
    python -m chapter db --db postgresql://postgres@127.0.0.1:PORT/postgres --model asyncio --workers 32

- serial: one connection, one transaction after another (five round trips each);
- threading: K threads, a connection each (psycopg and sqlite3 release the GIL while they
  wait, so the waits overlap);
- multiprocessing: K processes, each opening its own connection on its first transaction (a
  connection must never cross a fork);
- asyncio: K tasks on one loop sharing K ``psycopg.AsyncConnection``\\ s, one statement at a
  time (``--variant pool``) or each transaction's statements sent in one go in psycopg's
  pipeline mode (``--variant pipelined``); SQLite has no asynchronous driver (aiosqlite is a
  thread per connection), so it runs the blocking transaction through ``run_in_executor``.

Why the digest cannot depend on the interleaving: transaction ``t`` always adds the same delta
to the same account, as an increment on the server under the row lock (no lost update), and
its ledger row is keyed by ``t``; additions commute and the ledger is a set read back in key
order, so any order of the same commits leaves the same tables.

Connections are kept per worker between transactions (an idle list: take one or open one, give
it back unless it broke). Not ``psycopg_pool``: like r2d2 in Rust, it waits up to its timeout
for a connection to a server that is gone, where here a refused connection fails the attempt
at once, to be retried and counted. Statements are prepared on each connection
(``prepare=True``), as the Rust side does. Retrying is safe: a transaction that committed but
whose acknowledgement was lost meets its own ledger row on the next attempt (a unique
violation), which counts as already applied, never twice.
"""

import asyncio
import functools
import os
import sqlite3
import threading
import time
from dataclasses import dataclass

from chapter import pool
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest
from chapter.rng import SplitMix64

DEFAULT_DB = "sqlite:data/db.sqlite"
APPLICATION_NAME = "dt-db"
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 30_000
ACCOUNT_STREAM = 0x6163_636F_756E_7473
TXN_STREAM = 0x7472_616E_7361_6374
OPENING_BELOW = 1_000_000
DELTA_SPAN = 1000
BACKOFF_CAP_S = 2.0
BREAKER_AT = 3
BUSY_GIVE_UP_S = 5.0

PG_READ = "SELECT balance FROM accounts WHERE id = %s"
PG_UPDATE = "UPDATE accounts SET balance = balance + %s, txns = txns + 1 WHERE id = %s RETURNING balance"
PG_INSERT = "INSERT INTO ledger (txn, account, delta) VALUES (%s, %s, %s)"
PG_EXISTING = "SELECT account, delta FROM ledger WHERE txn = %s"
LITE_READ = "SELECT balance FROM accounts WHERE id = ?"
LITE_UPDATE = "UPDATE accounts SET balance = balance + ?, txns = txns + 1 WHERE id = ?"
LITE_INSERT = "INSERT INTO ledger (txn, account, delta) VALUES (?, ?, ?)"
LITE_EXISTING = "SELECT account, delta FROM ledger WHERE txn = ?"
RESET = ("DELETE FROM ledger", "UPDATE accounts SET balance = opening, txns = 0")
ACCOUNTS = "SELECT id, owner, opening, balance, txns FROM accounts ORDER BY id"
LEDGER = "SELECT txn, account, delta FROM ledger ORDER BY txn"


# ---------------------------------------------------------------------------------------------
# The workload: pure functions of the seed (the Rust ``db::workload``).


@dataclass(frozen=True)
class Workload:
    seed: int
    accounts: int

    def opening(self, account: int) -> int:
        return SplitMix64.for_item(self.seed ^ ACCOUNT_STREAM, account).below(OPENING_BELOW)

    def txn(self, t: int):
        """(txn, account, delta): fixed by the seed and ``t``, never by who runs it or when."""
        r = SplitMix64.for_item(self.seed ^ TXN_STREAM, t)
        account = r.below(max(self.accounts, 1))
        delta = r.below(2 * DELTA_SPAN + 1) - DELTA_SPAN
        return (t, account, delta)

    def check(self, accounts, ledger):
        """Why the tables are not what this workload can produce, or None."""
        if len(accounts) != self.accounts:
            return f"{len(accounts)} accounts where the database was made with {self.accounts}"
        sums = {}
        for row in ledger:
            want = self.txn(row[0])
            if tuple(row) != want:
                return (f"ledger row {row[0]} is (account {row[1]}, delta {row[2]}), not this "
                        f"workload's (account {want[1]}, delta {want[2]})")
            s = sums.setdefault(row[1], [0, 0])
            s[0] += row[2]
            s[1] += 1
        for i, (aid, owner, opening, balance, txns) in enumerate(accounts):
            if aid != i or owner != f"owner-{i:06}" or opening != self.opening(i):
                return f"account {aid} is not the one gen db wrote"
            total, count = sums.get(aid, (0, 0))
            if balance != opening + total or txns != count:
                return (f"account {aid} holds {balance} after {txns} transactions, but its opening "
                        f"{opening} and its {count} ledger rows add up to {opening + total}")
        return None

    def expected(self, committed):
        """The tables once exactly ``committed`` have committed, in any order."""
        accounts = [[i, f"owner-{i:06}", self.opening(i), self.opening(i), 0] for i in range(self.accounts)]
        ledger = [self.txn(t) for t in sorted(set(committed))]
        for _, a, d in ledger:
            accounts[a][3] += d
            accounts[a][4] += 1
        return [tuple(a) for a in accounts], ledger


def u64(v: int) -> int:
    return v & 0xFFFF_FFFF_FFFF_FFFF


def tables_digest(accounts, ledger) -> str:
    """Both tables in key order, byte for byte the Rust ``State::digest``."""
    d = Digest()
    d.update(b"accounts").update_u64(len(accounts))
    for aid, owner, opening, balance, txns in accounts:
        d.update_u64(u64(aid)).update(owner.encode()).update_u64(u64(opening))
        d.update_u64(u64(balance)).update_u64(u64(txns))
    d.update(b"ledger").update_u64(len(ledger))
    for t, a, delta in ledger:
        d.update_u64(u64(t)).update_u64(u64(a)).update_u64(u64(delta))
    return d.finish()


# ---------------------------------------------------------------------------------------------
# Where the database is.


def redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


@dataclass(frozen=True)
class Target:
    """``sqlite:PATH`` or a PostgreSQL URL, checked; ``kwargs`` are what the client adds."""

    spec: str

    @staticmethod
    def parse(spec: str) -> "Target":
        spec = spec.strip()
        hint = "use postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH"
        if spec.startswith("sqlite:"):
            path = spec[len("sqlite:"):]
            path = path[2:] if path.startswith("//") else path
            if not path or path == ":memory:":
                raise ChapterError(f"'{spec}' names no file: SQLite needs a file that every worker opens; {hint}")
            return Target(spec)
        if not (spec.startswith("postgresql://") or spec.startswith("postgres://")):
            raise ChapterError(f"'{redact(spec)}' is not a database URL; {hint}")
        import psycopg.conninfo

        try:
            psycopg.conninfo.conninfo_to_dict(spec)
        except psycopg.ProgrammingError as e:
            raise ChapterError(f"'{redact(spec)}' is not a valid PostgreSQL URL ({e}); {hint}") from None
        return Target(spec)

    @property
    def sqlite(self) -> bool:
        return self.spec.startswith("sqlite:")

    @property
    def path(self) -> str:
        p = self.spec[len("sqlite:"):]
        return p[2:] if p.startswith("//") else p

    @property
    def backend(self) -> str:
        return "sqlite" if self.sqlite else "postgres"

    def shown(self) -> str:
        return f"sqlite:{self.path}" if self.sqlite else redact(self.spec)

    def pg_kwargs(self) -> dict:
        import psycopg.conninfo

        given = psycopg.conninfo.conninfo_to_dict(self.spec)
        extra = {"autocommit": True, "prepare_threshold": 0}
        defaults = {
            "user": "postgres",
            "application_name": APPLICATION_NAME,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        }
        extra.update({k: v for k, v in defaults.items() if k not in given})
        return extra


def spec_of(db) -> str:
    if db:
        return db
    return os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DB


# ---------------------------------------------------------------------------------------------
# One transaction, blocking (serial, threading, multiprocessing; asyncio's SQLite).


class Failure(Exception):
    """One attempt failed: ``retry`` if it may pass, ``connect`` if nothing answered."""

    def __init__(self, message, retry=False, connect=False):
        super().__init__(message)
        self.retry = retry or connect
        self.connect = connect


PASSING = {"40001", "40P01", "57P01", "57P02", "57P03", "53300", "57014"}


def pg_failure(e) -> Failure:
    import psycopg

    code = getattr(e, "sqlstate", None)
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if code in PASSING:
        return Failure(text, retry=True)
    if code is not None:
        return Failure(text)
    if isinstance(e, psycopg.OperationalError):
        return Failure(f"{text} (the connection was lost)", retry=True)
    return Failure(text)


def _already(txn, held):
    t, a, d = txn
    if held is not None and tuple(held) == (a, d):
        return "already"
    if held is not None:
        raise Failure(
            f"unique violation: the ledger already holds a row {t} for account {held[0]}, "
            f"{held[1]:+} cents, which is not this transaction; nothing applied"
        )
    raise Failure(f"unique violation on ledger row {t}, which then vanished", retry=True)


def _missing(txn):
    return Failure(
        f"account {txn[1]} does not exist (were the tables made by `decision-table gen db` with more accounts?)"
    )


def open_pg(target: Target):
    import psycopg

    try:
        return psycopg.connect(target.spec, **target.pg_kwargs())
    except psycopg.OperationalError as e:
        why = f"cannot connect to the database at {target.shown()}: {str(e).strip()}"
        # The server answered no (no such database, a bad password): that will not pass.
        final = any(w in str(e) for w in ("does not exist", "password authentication", "no pg_hba"))
        raise Failure(why, connect=not final) from None


def open_lite(target: Target):
    if not os.path.isfile(target.path):
        raise Failure(
            f"cannot open the SQLite database {target.path} (no such file); make it with "
            f"`decision-table gen db --db sqlite:{target.path}`"
        )
    # isolation_level=None: we say BEGIN IMMEDIATE ourselves. SQLite's own busy timeout (5 s)
    # while the connection is set up: its first statement reads the schema and can meet another
    # connection's checkpoint (with timeout=0 that failed a sweep's run, "database is locked").
    # Then 0: the writes wait for the lock in our own short sleeps (_lite_begin).
    c = sqlite3.connect(target.path, timeout=BUSY_GIVE_UP_S, isolation_level=None, check_same_thread=False)
    c.execute("PRAGMA foreign_keys = ON")
    c.execute("PRAGMA synchronous = NORMAL")
    c.execute("PRAGMA busy_timeout = 0")
    return c


def _pg_attempt(conn, txn):
    import psycopg

    t, a, d = txn
    try:
        with conn.transaction():
            if conn.execute(PG_READ, (a,), prepare=True).fetchone() is None:
                raise _missing(txn)
            conn.execute(PG_UPDATE, (d, a), prepare=True)
            conn.execute(PG_INSERT, (t, a, d), prepare=True)
        return "fresh"
    except psycopg.errors.UniqueViolation:
        pass
    except psycopg.Error as e:
        raise pg_failure(e) from None
    try:
        return _already(txn, conn.execute(PG_EXISTING, (t,), prepare=True).fetchone())
    except psycopg.Error as e:
        raise pg_failure(e) from None


def _lite_begin(conn, busy):
    """BEGIN IMMEDIATE, waiting for SQLite's write lock in short sleeps (50 us doubling to
    1.6 ms, about 5 s in all, as the Rust busy handler), each counted in ``busy[0]``."""
    calls = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise Failure(str(e)) from None
            busy[0] += 1
            if 0.0016 * calls >= BUSY_GIVE_UP_S:
                raise Failure(f"{e} (SQLite's write lock stayed taken)", retry=True) from None
            time.sleep(50e-6 * (1 << min(calls, 5)))
            calls += 1


def _lite_attempt(conn, txn, busy):
    t, a, d = txn
    _lite_begin(conn, busy)
    try:
        if conn.execute(LITE_READ, (a,)).fetchone() is None:
            raise _missing(txn)
        conn.execute(LITE_UPDATE, (d, a))
        conn.execute(LITE_INSERT, (t, a, d))
        conn.execute("COMMIT")
        return "fresh"
    except sqlite3.IntegrityError as e:
        conn.execute("ROLLBACK")
        if getattr(e, "sqlite_errorname", "") != "SQLITE_CONSTRAINT_PRIMARYKEY":
            raise Failure(str(e)) from None
    except sqlite3.OperationalError as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        busy_codes = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        raise Failure(str(e), retry=getattr(e, "sqlite_errorcode", None) in busy_codes) from None
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return _already(txn, conn.execute(LITE_EXISTING, (t,)).fetchone())


@dataclass(frozen=True)
class Plan:
    """What a worker needs to run a transaction anywhere: plain, picklable data."""

    spec: str
    seed: int
    accounts: int
    retries: int
    backoff_ms: int
    drop_connection_at: int = None

    @property
    def workload(self):
        return Workload(self.seed, self.accounts)

    def delay(self, retry: int) -> float:
        return min(self.backoff_ms / 1000 * (1 << (retry - 1)), BACKOFF_CAP_S)


class Breaker:
    """After BREAKER_AT transactions in a row could not connect, the rest fail at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count, self.why = 0, ""

    def tripped(self):
        with self.lock:
            if self.count >= BREAKER_AT:
                return f"not tried: the last {self.count} transactions could not connect to the server ({self.why})"
        return None

    def record(self, failure):
        with self.lock:
            if failure is not None and failure.connect:
                self.count, self.why = self.count + 1, str(failure)
            else:
                self.count = 0


class Connections:
    """One connection per worker: idle ones wait here between transactions."""

    def __init__(self, target):
        self.target = target
        self.idle = []
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return open_lite(self.target) if self.target.sqlite else open_pg(self.target)

    def give(self, conn):
        if getattr(conn, "broken", False):
            conn.close()
            return
        with self.lock:
            self.idle.append(conn)

    def close(self):
        with self.lock:
            for c in self.idle:
                c.close()
            self.idle.clear()


# Per process: a worker process makes its own on its first transaction (never inherited).
_STATE = {}
_STATE_LOCK = threading.Lock()


def _state(plan):
    key = (os.getpid(), plan)
    with _STATE_LOCK:
        if key not in _STATE:
            _STATE[key] = (Connections(Target.parse(plan.spec)), Breaker())
        return _STATE[key]


def _describe(txn):
    return f"transaction {txn[0]} (account {txn[1]}, {txn[2]:+} cents)"


def transact(plan, t):
    """The job: run transaction ``t`` until it commits, fails for good, or runs out of retries.
    Returns (attempts, busy_waits, ok, "fresh" | "already" | the error)."""
    conns, breaker = _state(plan)
    txn = plan.workload.txn(t)
    why = breaker.tripped()
    if why:
        return (0, 0, False, why)
    busy = [0]
    attempts = 0
    while True:
        attempts += 1
        try:
            conn = conns.take()
            try:
                if attempts == 1 and plan.drop_connection_at == t and not conns.target.sqlite:
                    try:
                        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
                    except Exception:
                        pass
                if conns.target.sqlite:
                    applied = _lite_attempt(conn, txn, busy)
                else:
                    applied = _pg_attempt(conn, txn)
            finally:
                conns.give(conn)
            breaker.record(None)
            return (attempts, busy[0], True, applied)
        except Failure as f:
            if not f.retry or attempts > plan.retries:
                breaker.record(f)
                return (attempts, busy[0], False, f"{_describe(txn)}: {f}")
            time.sleep(plan.delay(attempts))


# ---------------------------------------------------------------------------------------------
# One transaction, asyncio (PostgreSQL).


class AsyncConnections:
    def __init__(self, target):
        self.target = target
        self.idle = []

    async def take(self):
        import psycopg

        if self.idle:
            return self.idle.pop()
        try:
            return await psycopg.AsyncConnection.connect(self.target.spec, **self.target.pg_kwargs())
        except psycopg.OperationalError as e:
            why = f"cannot connect to the database at {self.target.shown()}: {str(e).strip()}"
            final = any(w in str(e) for w in ("does not exist", "password authentication"))
            raise Failure(why, connect=not final) from None

    def give(self, conn):
        if conn.broken:
            return
        self.idle.append(conn)

    async def close(self):
        for c in self.idle:
            await c.close()
        self.idle.clear()


async def _pg_attempt_async(conn, txn, pipelined):
    import psycopg

    t, a, d = txn
    try:
        if pipelined:
            # Every statement is sent before any answer is read: the transaction's exit is the
            # one point where psycopg waits (a sync), so one round trip in all.
            async with conn.pipeline():
                async with conn.transaction():
                    read = await conn.execute(PG_READ, (a,), prepare=True)
                    await conn.execute(PG_UPDATE, (d, a), prepare=True)
                    await conn.execute(PG_INSERT, (t, a, d), prepare=True)
            if await read.fetchone() is None:
                raise _missing(txn)
        else:
            async with conn.transaction():
                if await (await conn.execute(PG_READ, (a,), prepare=True)).fetchone() is None:
                    raise _missing(txn)
                await conn.execute(PG_UPDATE, (d, a), prepare=True)
                await conn.execute(PG_INSERT, (t, a, d), prepare=True)
        return "fresh"
    except psycopg.errors.UniqueViolation:
        pass
    except psycopg.Error as e:
        raise pg_failure(e) from None
    try:
        cur = await conn.execute(PG_EXISTING, (t,), prepare=True)
        return _already(txn, await cur.fetchone())
    except psycopg.Error as e:
        raise pg_failure(e) from None


async def transact_async(plan, conns, breaker, pipelined, t):
    txn = plan.workload.txn(t)
    why = breaker.tripped()
    if why:
        return (0, 0, False, why)
    attempts = 0
    while True:
        attempts += 1
        try:
            conn = await conns.take()
            try:
                if attempts == 1 and plan.drop_connection_at == t:
                    try:
                        await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
                    except Exception:
                        pass
                applied = await asyncio.wait_for(
                    _pg_attempt_async(conn, txn, pipelined), STATEMENT_TIMEOUT_MS / 1000 + 5
                )
            finally:
                conns.give(conn)
            breaker.record(None)
            return (attempts, 0, True, applied)
        except asyncio.TimeoutError:
            f = Failure("no answer in time", retry=True)
        except Failure as e:
            f = e
        if not f.retry or attempts > plan.retries:
            breaker.record(f)
            return (attempts, 0, False, f"{_describe(txn)}: {f}")
        await asyncio.sleep(plan.delay(attempts))


# ---------------------------------------------------------------------------------------------
# Before and after the transactions.


def _connect_for(target):
    try:
        return open_lite(target) if target.sqlite else open_pg(target)
    except Failure as f:
        hint = "" if target.sqlite else " (is the server running? scripts/pg.sh start starts one)"
        raise ChapterError(f"{f}{hint}") from None


def _rows(conn, sql):
    return [tuple(r) for r in conn.execute(sql).fetchall()]


def read_state(target):
    conn = _connect_for(target)
    try:
        return _rows(conn, ACCOUNTS), _rows(conn, LEDGER)
    finally:
        conn.close()


def prepare(args, target):
    """Read the workload, reset the tables unless --resume, time a round trip."""
    conn = _connect_for(target)
    shown = target.shown()
    try:
        try:
            meta = dict(_rows(conn, "SELECT key, value FROM dt_meta"))
            workload = Workload(meta["seed"] & 0xFFFF_FFFF_FFFF_FFFF, meta["accounts"])
        except Exception as e:
            raise ChapterError(
                f"{shown} has no tables of this scenario ({str(e).strip()}); make them with "
                f"`decision-table gen db --db {shown}`"
            ) from None
        if args.resume:
            before = len(_rows(conn, LEDGER))
        else:
            before = 0
            if target.sqlite:
                _lite_begin(conn, [0])
                for s in RESET:
                    conn.execute(s)
                conn.execute("COMMIT")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                with conn.transaction():
                    for s in RESET:
                        conn.execute(s)
                conn.execute("VACUUM ANALYZE accounts, ledger")
        if target.sqlite:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            rtt, server = 0.0, f"SQLite {sqlite3.sqlite_version} ({mode})"
        else:
            server = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0]
            times = []
            for _ in range(21):
                t0 = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                times.append((time.perf_counter() - t0) * 1000)
            rtt = sorted(times)[len(times) // 2]
    finally:
        conn.close()
    state = "resuming over %d ledger rows" % before if args.resume else "tables reset"
    say(f"{server} at {shown}: {workload.accounts} accounts (seed {workload.seed}), a round trip "
        f"{rtt:.3f} ms; {args.transactions} transactions, {state}")
    return workload, rtt, server


def finish(run_, target, workload, args, rtt, server, done):
    txn_s = run_.elapsed_s()
    failed_txns, fresh, already, retries, busy = [], 0, 0, 0, 0
    confirmed = set()
    for t, (attempts, waits, ok, value) in enumerate(done):
        retries += max(attempts - 1, 0)
        busy += waits
        if ok:
            confirmed.add(t)
            fresh += value == "fresh"
            already += value == "already"
        else:
            failed_txns.append(t)
    for t in failed_txns[:10]:
        say(f"FAILED after {done[t][0]} attempt(s): {done[t][3]}")
    if len(failed_txns) > 10:
        say(f"... and {len(failed_txns) - 10} more failed transactions (all listed in --json)")
    committed = fresh + already
    tps = committed / txn_s if txn_s > 0 else 0.0
    say(f"{committed} of {len(done)} transactions committed ({already} already applied), "
        f"{len(failed_txns)} failed, {retries} retries, {busy} busy waits: {tps:.0f} transactions/s "
        f"over {run_.workers} connection(s) in {txn_s:.3f} s")
    failed = len(failed_txns)
    try:
        accounts, ledger = read_state(target)
    except ChapterError as e:
        say(f"cannot read the tables back ({e}): the digest is of what the client saw commit")
        accounts, ledger = workload.expected(confirmed)
        digest, digest_of = tables_digest(accounts, ledger), "client"
        failed = max(failed, 1)
        run_.extra("consistent", None)
    else:
        held = {r[0] for r in ledger}
        lost = sorted(confirmed - held)
        why = workload.check(accounts, ledger)
        if why is None and lost:
            why = f"{len(lost)} transaction(s) reported committed are not in the ledger: {lost[:10]}"
        if why is None:
            say(f"the tables add up: {len(ledger)} ledger rows, every balance its opening plus its rows")
        else:
            say(f"INCONSISTENT: {why}")
            failed = max(failed, 1)
        unconfirmed = [t for t in failed_txns if t in held]
        if unconfirmed:
            say(f"{len(unconfirmed)} failed transaction(s) did commit (their acknowledgement was lost): {unconfirmed[:10]}")
        run_.extra("consistent", why is None).extra("ledger_rows", len(ledger)).extra("unconfirmed_commits", unconfirmed)
        digest, digest_of = tables_digest(accounts, ledger), "tables"
    for k, v in (
        ("backend", target.backend), ("db", target.shown()), ("server", server),
        ("accounts", workload.accounts), ("seed", workload.seed), ("resume", bool(args.resume)),
        ("committed", committed), ("already_applied", already), ("retries", retries),
        ("busy_waits", busy), ("txn_s", round(txn_s, 3)), ("tps", round(tps)),
        ("rtt_ms", round(rtt, 3)), ("digest_of", digest_of), ("failed_txns", failed_txns),
    ):
        run_.extra(k, v)
    return run_.finish(digest, failed)


# ---------------------------------------------------------------------------------------------
# The scenario.


def run(args) -> dict:
    target = Target.parse(spec_of(args.db))
    if args.drop_connection_at is not None and target.sqlite:
        raise ChapterError("--drop-connection-at needs a PostgreSQL --db: SQLite has no server")
    pipelined = args.db_variant == "pipelined"
    if pipelined and (args.model != "asyncio" or target.sqlite):
        raise ChapterError("--variant pipelined needs --model asyncio and PostgreSQL: SQLite has no wire to pipeline on")
    workload, rtt, server = prepare(args, target)
    plan = Plan(target.spec, workload.seed, workload.accounts, args.retries, args.backoff_ms, args.drop_connection_at)
    n = args.transactions
    workers = 1 if args.model == "serial" else args.workers
    if args.model == "asyncio" and not target.sqlite:
        return asyncio.run(_run_async(args, target, workload, plan, rtt, server, pipelined))
    variant = pool.DEFAULT_VARIANT[args.model]
    run_ = Run.start("db", args.model, variant, workers, n)
    mapped = pool.map_in_order(
        range(n), min(workers, n), functools.partial(transact, plan), args.model, keep_going=True,
        stall_timeout_s=args.stall_timeout_s, start_method=args.start_method,
    )
    if args.model == "multiprocessing":
        run_.extra("parent_pid", os.getpid()).extra("pids", mapped.pids)
    if args.model in ("serial", "threading"):
        _state(plan)[0].close()
    return finish(run_, target, workload, args, rtt, server, _done(mapped))


def _done(mapped):
    out = []
    for o in mapped.outcomes:
        if o is None:
            out.append((0, 0, False, "never ran"))
        elif o.ok:
            out.append(o.value)
        else:
            out.append((0, 0, False, o.error))
    return out


async def _run_async(args, target, workload, plan, rtt, server, pipelined):
    conns, breaker = AsyncConnections(target), Breaker()
    n = args.transactions
    run_ = Run.start("db", "asyncio", "pipelined" if pipelined else "tasks", args.workers, n)
    try:
        mapped = await pool.gather_in_order(
            range(n), args.workers, functools.partial(transact_async, plan, conns, breaker, pipelined), True
        )
    finally:
        await conns.close()
    return finish(run_, target, workload, args, rtt, server, _done(mapped))
