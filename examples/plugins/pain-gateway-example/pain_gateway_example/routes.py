"""``/v1/example/notes``: notes on assessments, in the plugin's own table, scoped to the caller's tenant.

The gateway hands handlers its ``flow`` (``AssessmentFlow``: ``.assessments``, ``.engine``,
``.publish``), ``store`` (``AssessmentStore``) and ``plugins`` as Litestar dependencies.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, Parameter
from sqlalchemy import insert, select

from gateway import AssessmentFlow, InputError, as_utc, ok, problems, read_only
from pain_gateway_example import NOTE_ADDED, ExampleSettings
from pain_gateway_example.tables import notes

PATH = "/v1/example/notes"
READERS = {"integrator", "telehealth", "clinician"}
WRITERS = {"integrator", "clinician"}
TAGS = ["example notes"]
_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_ASSESSMENT = "5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11"


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A note on one of the tenant's assessments."""

    assessment_id: Annotated[str, msgspec.Meta(max_length=36, examples=[_ASSESSMENT])]
    text: Annotated[str, msgspec.Meta(examples=["Grimacing eased after repositioning."])]


class Note(msgspec.Struct):
    id: str
    assessment_id: str
    text: str
    created_at: datetime
    author: str | None = None
    event_id: str | None = None  # on creation: the ``example.note_added`` event


class NoteList(msgspec.Struct):
    notes: list[Note]


EXAMPLE_NOTE = Note("0c1f6b1e-5d2a-4f55-9a11-7e3b2c1d0e9f", _ASSESSMENT, "Grimacing eased after repositioning.", _AT, "a1b2c3d4")


def build_routes(config: ExampleSettings) -> list:
    @post(
        PATH,
        opt={"roles": WRITERS},
        tags=TAGS,
        status_code=201,
        summary="Add a note to an assessment",
        responses=ok(Note, EXAMPLE_NOTE, 201) | problems(400, 404, 422),
    )
    async def add_note(request: Request, data: JSONBody[NoteCreate], flow: NamedDependency[AssessmentFlow]) -> Note:
        """The note is kept in the plugin's own table and announced as an ``example.note_added`` event."""
        tenant = request.user.tenant
        text = data.text.strip()
        if not text:
            raise InputError("text", "must not be empty")
        if len(text) > config.max_note_chars:
            raise InputError("text", f"must be at most {config.max_note_chars} characters")
        if await flow.assessments.get(data.assessment_id, tenant) is None:
            raise NotFoundException(f"no assessment {data.assessment_id!r}")
        note = Note(str(uuid.uuid4()), data.assessment_id, text, datetime.now(UTC), getattr(request.user, "id", None))
        async with flow.engine.begin() as connection:
            await connection.execute(
                insert(notes).values(
                    id=note.id, tenant=tenant, assessment_id=note.assessment_id, text=note.text, author=note.author, created_at=note.created_at
                )
            )
        event = await flow.publish(NOTE_ADDED, note.assessment_id, tenant)
        return msgspec.structs.replace(note, event_id=event.id)

    @get(
        PATH,
        opt={"roles": READERS},
        tags=TAGS,
        summary="Notes on an assessment, oldest first",
        responses=ok(NoteList, NoteList([EXAMPLE_NOTE])) | problems(400, 422),
    )
    async def list_notes(
        request: Request,
        flow: NamedDependency[AssessmentFlow],
        assessment_id: str | None = Parameter(default=None, max_length=36, description="Only this assessment's notes"),
    ) -> NoteList:
        """The caller's tenant's notes (another tenant's are never listed)."""
        query = select(notes).where(notes.c.tenant == request.user.tenant).order_by(notes.c.created_at, notes.c.id)
        if assessment_id is not None:
            query = query.where(notes.c.assessment_id == assessment_id)
        async with read_only(flow.engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return NoteList([Note(r["id"], r["assessment_id"], r["text"], as_utc(r["created_at"]), r["author"]) for r in rows])

    return [add_note, list_notes]
