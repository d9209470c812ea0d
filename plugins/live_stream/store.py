"""Live sessions in the database, so any replica serves any session (``plugins.live_stream.tables``).

What a replica keeps in memory is only a cache of the open second; everything that must outlive it is
here: the session (tenant, patient, the capture clock and sequence to resume from), each scored window
with its 30-frame grid, and the tickets. Every statement is scoped to the session's tenant where a caller
names one, and each state change is one conditional ``UPDATE`` whose row count says who won: two
replicas never both end a session, and a replica that lost a session (another took it over) writes
nothing more to it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import PatientRef, read_only
from plugins.live_stream.tables import LiveSessionRow, LiveTicketRow, LiveWindowRow

OPEN, ENDING, ENDED = "open", "ending", "ended"
ENDING_GRACE_S = 120.0
"""How long one replica's claim to end a session holds: a replica that dies while ending is replaced after this."""


def ticket_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Resume:
    """Where a session stands after its last stored window: what the next frame must follow."""

    last_sequence: int | None
    last_capture_ms: float | None
    first_capture_ms: float | None
    window_index: int
    window_start_ms: float | None
    frames: int


@dataclass(frozen=True)
class StoredSession:
    id: str
    tenant: str
    patient: PatientRef
    image_size: tuple[int, int] | None
    status: str
    taken: int
    resume: Resume
    assessment_id: str | None
    outcome: str | None


@dataclass(frozen=True)
class StoredWindow:
    session_id: str
    tenant: str
    index: int
    start_ms: float
    frames: int
    result: dict
    grid: bytes | None
    taken: int  # the take of the connection that scored it: written only while that take is current
    resume: Resume | None  # the session's state once this window closed


def _session_states(windows: Sequence[StoredWindow], image_sizes: dict[str, tuple[int, int] | None]) -> dict[tuple[str, ...], list[dict]]:
    """Each window's change to its session row (its resume state, the image size once known), grouped by the
    columns changed, so each group is one ``UPDATE`` run for many rows; rows keep the windows' order, so a
    session with two windows in the batch ends at the later one's state."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for window in windows:
        values: dict = {}
        if window.resume is not None:
            r = window.resume
            values = dict(
                last_sequence=r.last_sequence,
                last_capture_ms=r.last_capture_ms,
                first_capture_ms=r.first_capture_ms,
                window_index=r.window_index,
                window_start_ms=r.window_start_ms,
                frames=r.frames,
            )
        size = image_sizes.get(window.session_id)
        if size is not None:
            values["image_size"] = list(size)
        if values:
            groups.setdefault(tuple(values), []).append({"session_row": window.session_id} | {f"new_{k}": v for k, v in values.items()})
    return groups


def _session(row) -> StoredSession:
    resume = Resume(row.last_sequence, row.last_capture_ms, row.first_capture_ms, row.window_index, row.window_start_ms, row.frames)
    size = tuple(row.image_size) if row.image_size else None
    patient = msgspec.convert(row.patient, PatientRef)
    return StoredSession(row.id, row.tenant, patient, size, row.status, row.taken, resume, row.assessment_id, row.outcome)  # type: ignore[arg-type]


class LiveStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reads = read_only(engine)

    async def create(self, session_id: str, tenant: str, patient: PatientRef, deadline: float, max_open: int) -> int | None:
        """Insert the session unless the tenant already has ``max_open`` sessions not ended (counted by every
        replica's sessions); returns ``None`` when created, else the count that refused it."""
        table = LiveSessionRow.__table__
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two replicas creating at once must not both pass the count
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('pain_gateway_live:' || :tenant))"), {"tenant": tenant})
            count = (await conn.execute(select(func.count()).select_from(table).where(table.c.tenant == tenant, table.c.status != ENDED))).scalar_one()
            if count >= max_open:
                return int(count)
            await conn.execute(
                insert(table).values(
                    id=session_id,
                    tenant=tenant,
                    patient=msgspec.to_builtins(patient),
                    status=OPEN,
                    taken=0,
                    deadline=deadline,
                    created_at=time.time(),
                    window_index=0,
                    frames=0,
                )
            )
        return None

    async def get(self, session_id: str, tenant: str | None = None) -> StoredSession | None:
        """The session (of ``tenant``, when given: another tenant's is indistinguishable from none)."""
        table = LiveSessionRow.__table__
        query = select(table).where(table.c.id == session_id)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        async with self.reads.connect() as conn:
            row = (await conn.execute(query)).first()
        return _session(row) if row is not None else None

    async def issue_ticket(self, session_id: str, tenant: str, key: str, expires: float, idle_timeout_s: float) -> bool:
        """Replace the session's tickets with ``key`` and hold the session open until the ticket has expired
        and ``idle_timeout_s`` more has passed since now; ``False`` if it is not open (any more)."""
        sessions, tickets = LiveSessionRow.__table__, LiveTicketRow.__table__
        async with self.engine.begin() as conn:
            held = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.tenant == tenant, sessions.c.status == OPEN)
                .values(deadline=func.max(sessions.c.deadline, max(expires, time.time() + idle_timeout_s)) if conn.dialect.name == "sqlite"
                        else func.greatest(sessions.c.deadline, max(expires, time.time() + idle_timeout_s)))
            )  # fmt: skip
            if held.rowcount != 1:
                return False
            await conn.execute(delete(tickets).where(tickets.c.session_id == session_id))
            await conn.execute(insert(tickets).values(key_hash=ticket_hash(key), session_id=session_id, tenant=tenant, expires=expires))
        return True

    async def redeem(self, key: str) -> tuple[str, float] | None:
        """Consume a ticket wherever it was issued: (session id, expiry), or ``None`` if unknown or used.
        One ``DELETE … RETURNING``: two replicas presented the same ticket cannot both have it."""
        tickets = LiveTicketRow.__table__
        async with self.engine.begin() as conn:
            row = (await conn.execute(delete(tickets).where(tickets.c.key_hash == ticket_hash(key)).returning(tickets.c.session_id, tickets.c.expires))).first()
        return (row.session_id, row.expires) if row is not None else None

    async def take(self, session_id: str, replica: str, deadline: float) -> int | None:
        """This replica now serves the open session: its new take count, or ``None`` if it is not open."""
        table = LiveSessionRow.__table__
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(table)
                    .where(table.c.id == session_id, table.c.status == OPEN)
                    .values(replica=replica, taken=table.c.taken + 1, deadline=deadline)
                    .returning(table.c.taken)
                )
            ).first()
        return int(row.taken) if row is not None else None

    async def save_windows(self, windows: Sequence[StoredWindow], image_sizes: dict[str, tuple[int, int] | None]) -> set[tuple[str, int]]:
        """Store scored windows (many sessions' at once, one transaction) with each session's state after them,
        only where the take that scored them is still current; returns the (session, index) pairs stored.

        A constant number of statements whatever the batch (a second of 64 sessions is a ``SELECT``, an
        ``UPDATE`` per set of changed columns and one ``INSERT``, each run for many rows): per-window statements
        cost the live server a third of its CPU. On PostgreSQL the ``SELECT`` locks, in session-id order, only
        the rows whose take is still the one that scored them (a row another replica took is never waited
        for, so two replicas with crossed stale windows cannot deadlock), and a take elsewhere waits for this
        transaction; SQLite's writes begin ``IMMEDIATE`` and hold its write lock throughout. A window already
        stored (the same index, scored again by a resumed connection) is kept as first stored, never
        failing the batch: one duplicate must not cost other sessions their seconds."""
        sessions, table = LiveSessionRow.__table__, LiveWindowRow.__table__
        postgresql = self.engine.dialect.name == "postgresql"
        async with self.engine.begin() as conn:
            scored_by = sorted({(w.session_id, w.taken) for w in windows})
            query = select(sessions.c.id).where(tuple_(sessions.c.id, sessions.c.taken).in_(scored_by), sessions.c.status == OPEN)
            if postgresql:
                query = query.order_by(sessions.c.id).with_for_update()
            owned = set((await conn.execute(query)).scalars().all())
            current = sorted((w for w in windows if w.session_id in owned), key=lambda w: w.session_id)  # stable: a session's windows keep their order
            if not current:
                return set()
            for columns, rows in _session_states(current, image_sizes).items():
                changes = {column: bindparam(f"new_{column}") for column in columns}
                await conn.execute(update(sessions).where(sessions.c.id == bindparam("session_row")).values(changes), rows)
            dialect_insert = postgresql_insert if postgresql else sqlite_insert
            rows = [
                dict(session_id=w.session_id, window_no=w.index, tenant=w.tenant, start_ms=w.start_ms, frames=w.frames, result=w.result, grid=w.grid)
                for w in current
            ]
            await conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=["session_id", "window_no"]), rows)
        return {(w.session_id, w.index) for w in current}

    async def hold(self, session_ids: Sequence[str], replica: str, deadline: float) -> None:
        """Push the idle deadline of sessions this replica serves (a heartbeat: while it lives, they stay open).
        On PostgreSQL the rows are locked in session-id order first, the order ``save_windows`` locks them in,
        so the heartbeat and the window writer never deadlock."""
        if not session_ids:
            return
        table = LiveSessionRow.__table__
        mine = table.c.id.in_(list(session_ids)), table.c.replica == replica, table.c.status == OPEN
        async with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                await conn.execute(select(table.c.id).where(*mine).order_by(table.c.id).with_for_update())
            await conn.execute(update(table).where(*mine).values(deadline=deadline))

    async def release(self, session_id: str, taken: int, deadline: float) -> None:
        """The client left: the session stays resumable, by any replica, until ``deadline``."""
        table = LiveSessionRow.__table__
        async with self.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == session_id, table.c.taken == taken, table.c.status == OPEN).values(deadline=deadline))

    async def claim_end(self, session_id: str, replica: str, taken: int | None) -> bool:
        """Claim the right to end the session: from its current connection (``taken``), or, with ``taken`` None,
        because it has been idle past its deadline (also an ``ending`` claim whose replica died). One winner."""
        table = LiveSessionRow.__table__
        now = time.time()
        if taken is not None:
            condition = and_(table.c.status == OPEN, table.c.taken == taken)
        else:
            condition = and_(or_(table.c.status == OPEN, table.c.status == ENDING), table.c.deadline < now)
        async with self.engine.begin() as conn:
            won = await conn.execute(
                update(table).where(table.c.id == session_id, condition).values(status=ENDING, replica=replica, deadline=now + ENDING_GRACE_S)
            )
        return won.rowcount == 1

    async def overdue(self, limit: int = 50) -> list[str]:
        """Sessions past their deadline (idle, or claimed by a replica that died while ending them)."""
        table = LiveSessionRow.__table__
        query = select(table.c.id).where(table.c.status != ENDED, table.c.deadline < time.time()).order_by(table.c.deadline).limit(limit)
        async with self.reads.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def windows(self, session_id: str) -> list[tuple[int, float, int, bytes | None]]:
        """(index, start ms, frames, grid) of every stored window, in order."""
        table = LiveWindowRow.__table__
        query = select(table.c.window_no, table.c.start_ms, table.c.frames, table.c.grid).where(table.c.session_id == session_id).order_by(table.c.window_no)
        async with self.reads.connect() as conn:
            return [(int(r[0]), float(r[1]), int(r[2]), r[3]) for r in (await conn.execute(query)).all()]

    async def ended(self, session_id: str, replica: str, assessment_id: str | None, outcome: str | None) -> None:
        """The session's end is recorded; its windows and tickets are deleted (the assessment holds what they held)."""
        sessions, windows, tickets = LiveSessionRow.__table__, LiveWindowRow.__table__, LiveTicketRow.__table__
        async with self.engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.replica == replica, sessions.c.status == ENDING)
                .values(status=ENDED, assessment_id=assessment_id, outcome=outcome)
            )
            await conn.execute(delete(windows).where(windows.c.session_id == session_id))
            await conn.execute(delete(tickets).where(tickets.c.session_id == session_id))
