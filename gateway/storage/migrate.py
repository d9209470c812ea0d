"""Run Alembic migrations programmatically (``pain-gateway db upgrade``), from a sync context.

The core's revisions and every plugin's branch (``register_migrations``) share one Alembic history:
each plugin's folder is one more version location, its revisions a branch of their own. An upgrade
takes the core and the *enabled* plugins' branches to their heads, while every *installed* plugin's
folder stays a version location, so a database that once ran a plugin now disabled still reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from gateway.contract.protocols import Migrations
from gateway.ops.settings import SettingsError


def alembic_config(database_url: str, migrations: Sequence[Migrations] = ()) -> Config:
    config = Config()
    core = files("gateway.storage") / "migrations"
    config.set_main_option("script_location", str(core))
    locations = [str(core / "versions"), *(str(m.directory) for m in migrations)]
    config.set_main_option("path_separator", "os")  # the OS path separator, so a path may hold spaces
    config.set_main_option("version_locations", os.pathsep.join(locations))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, migrations: Sequence[Migrations] | None = None, *, installed: Sequence[Migrations] = ()) -> None:
    """Migrate the core and ``migrations`` (by default every installed plugin's, as the default settings load
    them) to their newest revisions; ``installed`` adds the branches of plugins that are installed but not
    enabled, to be found, never upgraded."""
    if migrations is None:
        from gateway.contract.plugin_manager import build_plugins
        from gateway.ops.settings import Settings

        migrations = build_plugins(Settings(database_url=database_url), environ={}).migrations
    known = {m.branch: m for m in (*installed, *migrations)}
    config = alembic_config(database_url, list(known.values()))
    try:
        command.upgrade(config, ScriptDirectory.from_config(alembic_config(database_url)).get_current_head() or "heads")
        for branch in sorted({m.branch for m in migrations}):
            command.upgrade(config, f"{branch}@head")
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise
        raise SettingsError(
            f"the database holds a migration no installed plugin provides ({exc}); reinstall the plugin that made it, "
            "or, to remove that plugin for good, reinstall it and run 'pain-gateway db drop-plugin NAME --yes' first"
        ) from None


def downgrade_branch(database_url: str, migrations: Sequence[Migrations], branch: str) -> None:
    """Take one plugin's branch down to its base (its tables dropped), the rest of the history untouched."""
    command.downgrade(alembic_config(database_url, migrations), f"{branch}@base")
