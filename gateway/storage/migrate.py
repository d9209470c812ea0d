"""Run Alembic migrations programmatically (``pain-gateway db upgrade``), from a sync context.

The core's revisions and every plugin's branch (``register_migrations``) share one Alembic history:
each plugin's folder is one more version location, its revisions a branch of their own, and an
upgrade goes to every head.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files

from alembic import command
from alembic.config import Config

from gateway.contract.protocols import Migrations


def alembic_config(database_url: str, migrations: Sequence[Migrations] = ()) -> Config:
    config = Config()
    core = files("gateway.storage") / "migrations"
    config.set_main_option("script_location", str(core))
    locations = [str(core / "versions"), *(str(m.directory) for m in migrations)]
    config.set_main_option("path_separator", "os")  # the OS path separator, so a path may hold spaces
    config.set_main_option("version_locations", os.pathsep.join(locations))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, migrations: Sequence[Migrations] | None = None) -> None:
    """Migrate the core and ``migrations`` (by default every installed plugin's, as the default settings
    load them) to their newest revisions."""
    if migrations is None:
        from gateway.contract.plugin_manager import build_plugins
        from gateway.ops.settings import Settings

        migrations = build_plugins(Settings(database_url=database_url), environ={}).migrations
    command.upgrade(alembic_config(database_url, migrations), "heads")


def downgrade_branch(database_url: str, migrations: Sequence[Migrations], branch: str) -> None:
    """Take one plugin's branch down to its base (its tables dropped), the rest of the history untouched."""
    command.downgrade(alembic_config(database_url, migrations), f"{branch}@base")
