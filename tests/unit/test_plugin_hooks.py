"""Hooks go through pluggy: wrappers and call order apply, a failing implementation is isolated, and the
two hooks that open the core (event types, a plugin's own tables) work end to end."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.assessments import make_assessment

from gateway import AssessmentEvent, Migrations, hookimpl
from gateway.contract.plugin_manager import build_plugins
from gateway.ops.settings import Settings, SettingsError
from gateway.service.flow import AssessmentFlow, RowsAreTheQueue
from gateway.storage.engine import create_engine
from gateway.storage.migrate import upgrade


class Note:
    """A minimal output, so the order in which outputs register can be seen."""

    media_type = "text/plain"

    def __init__(self, name: str) -> None:
        self.name = name

    def render(self, assessment):
        raise NotImplementedError


class Wrapper:
    """Sees every ``register_outputs`` call around the other plugins' implementations."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def register_outputs(self, register, settings):
        self.seen.append("before")
        result = yield
        self.seen.append("after")
        return result


class First:
    @hookimpl(tryfirst=True)
    def register_outputs(self, register, settings):
        register(Note("first"))


class Last:
    @hookimpl(trylast=True)
    def register_outputs(self, register, settings):
        register(Note("last"))


class Failing:
    @hookimpl
    def register_outputs(self, register, settings):
        register(Note("half-done"))
        raise RuntimeError("the site's template folder is missing")


def _plugins(sqlite_url: str, *extra):
    settings = Settings(database_url=sqlite_url, enabled_plugins=[name for name, _ in extra])
    return build_plugins(settings, extra=list(extra), environ={})


def test_a_hookwrapper_plugin_sees_the_hook_call(sqlite_url):
    wrapper = Wrapper()
    plugins = _plugins(sqlite_url, ("wrapper", wrapper), ("last", Last()), ("first", First()))
    assert wrapper.seen == ["before", "after"]
    assert list(plugins.outputs) == ["first", "last"], "tryfirst and trylast decide the order"


def test_a_failing_implementation_is_isolated_and_the_rest_still_run(sqlite_url):
    wrapper = Wrapper()
    plugins = _plugins(sqlite_url, ("wrapper", wrapper), ("last", Last()), ("failing", Failing()), ("first", First()))
    statuses = {s.name: s for s in plugins.statuses}
    assert statuses["failing"].status == "failed" and "template folder" in statuses["failing"].error
    assert sorted(plugins.outputs) == ["first", "last"], "what the failing plugin registered before raising is dropped"
    assert statuses["first"].status == statuses["last"].status == "loaded"


class SeenEvents:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def handle_event(self, event):
        self.events.append(event.type)


class BrokenObserver:
    @hookimpl(tryfirst=True)
    def handle_event(self, event):
        raise RuntimeError("observer bug")


class Sustained:
    @hookimpl
    def register_event_types(self, register, settings):
        register("pain.sustained", "significant pain in three checks within an hour")


def test_hook_register_event_types(tmp_path):
    """A plugin's event type is accepted by the flow, recorded, and reaches every observer, even past a broken one."""
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path}/events.db"
    seen = SeenEvents()
    plugins = _plugins(sqlite_url, ("sustained", Sustained()), ("broken", BrokenObserver()), ("seen", seen))
    assert plugins.event_types["pain.sustained"].startswith("significant pain")
    assert "assessment.completed" in plugins.event_types
    upgrade(sqlite_url, plugins.migrations)

    async def publish(event_type, tenant="default"):
        engine = create_engine(sqlite_url)
        try:
            flow = AssessmentFlow(plugins, engine, RowsAreTheQueue())
            await flow.assessments.add(make_assessment(id="a1", tenant="default"))
            return await flow.publish(event_type, "a1", tenant)
        finally:
            await engine.dispose()

    event = asyncio.run(publish("pain.sustained"))
    assert seen.events == ["pain.sustained"]
    with sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as db:
        assert db.execute("select type from events where id = ?", (event.id,)).fetchall() == [("pain.sustained",)]
    with pytest.raises(ValueError, match="unknown event type 'pain.undeclared'"):
        asyncio.run(publish("pain.undeclared"))
    with pytest.raises(LookupError, match="tenant 'other' has no assessment 'a1'"):  # never another tenant's assessment
        asyncio.run(publish("pain.sustained", tenant="other"))


class Clash:
    @hookimpl
    def register_event_types(self, register, settings):
        register("assessment.completed", "again")


class BadName:
    @hookimpl
    def register_event_types(self, register, settings):
        register("Pain Sustained", "not dotted")


def test_an_event_type_the_core_declares_stops_start_up_as_a_duplicate_name_does(sqlite_url):
    with pytest.raises(SettingsError, match="register the event type 'assessment.completed'"):
        _plugins(sqlite_url, ("odd", Clash()))


def test_an_event_type_that_is_not_a_dotted_name_fails_its_plugin_only(sqlite_url):
    plugins = _plugins(sqlite_url, ("odd", BadName()), ("sustained", Sustained()))
    statuses = {s.name: s for s in plugins.statuses}
    assert statuses["odd"].status == "failed" and "dotted lower-case" in statuses["odd"].error
    assert statuses["sustained"].status == "loaded" and "pain.sustained" in plugins.event_types


class Twin:
    """One class, two instances registered under two names: each is its own plugin."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail

    @hookimpl
    def register_outputs(self, register, settings):
        register(Note(self.name))
        if self.fail:
            raise RuntimeError(f"{self.name} broke")


def test_two_instances_of_one_class_are_two_plugins_each_credited_and_blamed_alone(sqlite_url):
    plugins = _plugins(sqlite_url, ("one", Twin("one")), ("two", Twin("two", fail=True)), ("three", Twin("three")))
    statuses = {s.name: s for s in plugins.statuses}
    assert (statuses["one"].provides, statuses["three"].provides) == (["one"], ["three"])
    assert statuses["two"].status == "failed" and "two broke" in statuses["two"].error
    assert sorted(plugins.outputs) == ["one", "three"]


def shared_decorator(function):
    """A site's helper decorator: every plugin using it shares one code object."""

    @functools.wraps(function)
    def decorated(*args, **kwargs):
        return function(*args, **kwargs)

    return decorated


class Decorated:
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail

    @hookimpl
    @shared_decorator
    def register_outputs(self, register, settings):
        if self.fail:
            raise RuntimeError("broken")
        register(Note(self.name))


def test_plugins_sharing_a_decorator_are_told_apart_and_start_up_ends(sqlite_url):
    plugins = _plugins(sqlite_url, ("good", Decorated("good")), ("bad", Decorated("bad", fail=True)))
    statuses = {s.name: s.status for s in plugins.statuses}
    assert (statuses["good"], statuses["bad"]) == ("loaded", "failed")
    assert list(plugins.outputs) == ["good"]


class FailingTeardown:
    @hookimpl(wrapper=True)
    def register_outputs(self, register, settings):
        yield
        raise RuntimeError("teardown bug")

    @hookimpl(wrapper=True)
    def handle_event(self, event):
        yield
        raise RuntimeError("teardown bug")


def test_a_wrapper_failing_after_its_yield_fails_alone_and_nothing_runs_twice(tmp_path):
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path}/teardown.db"
    seen = SeenEvents()
    plugins = _plugins(sqlite_url, ("teardown", FailingTeardown()), ("first", First()), ("seen", seen))
    assert {s.name: s.status for s in plugins.statuses}["teardown"] == "failed"
    assert list(plugins.outputs) == ["first"], "the others' registrations stand, once"
    upgrade(sqlite_url, plugins.migrations)
    plugins.handle_event(AssessmentEvent(id="e1", type="assessment.completed", assessment_id="a1", occurred_at=datetime.now(UTC), tenant="default"))
    assert seen.events == ["assessment.completed"], "an observer is told once"


class WrongArity:
    @hookimpl
    def register_settings(self, register):
        register("only_a_name")


def test_a_register_call_of_the_wrong_shape_fails_its_plugin_not_start_up(sqlite_url):
    plugins = _plugins(sqlite_url, ("odd", WrongArity()), ("first", First()))
    statuses = {s.name: s for s in plugins.statuses}
    assert statuses["odd"].status == "failed" and "register takes (name" in statuses["odd"].error
    assert "first" in plugins.outputs


REVISION = '''
"""The example's notes table."""
import sqlalchemy as sa
from alembic import op

revision = "notes_0001"
down_revision = None
branch_labels = ("notes",)
depends_on = None


def upgrade():
    op.create_table("example_notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text))


def downgrade():
    op.drop_table("example_notes")
'''


def test_hook_register_migrations(tmp_path):
    """``db upgrade`` applies an enabled plugin's own branch beside the core's, and again is a no-op."""
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path}/notes.db"
    versions: Path = tmp_path / "notes_migrations"
    versions.mkdir()
    (versions / "notes_0001.py").write_text(textwrap.dedent(REVISION))

    class Notes:
        @hookimpl
        def register_migrations(self, register, settings):
            register(Migrations("notes", versions))

    plugins = _plugins(sqlite_url, ("notes", Notes()))
    assert plugins.migrations == [Migrations("notes", versions)]
    upgrade(sqlite_url, plugins.migrations)
    upgrade(sqlite_url, plugins.migrations)
    with sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
        heads = {row[0] for row in db.execute("select version_num from alembic_version")}
    assert {"example_notes", "assessments"} <= tables
    assert "notes_0001" in heads and len(heads) >= 2
