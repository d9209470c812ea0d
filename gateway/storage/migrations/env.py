"""Alembic environment: async engine, the URL comes from the gateway settings, never from a .ini."""

from __future__ import annotations

import asyncio

from alembic import context

from gateway.storage.engine import create_engine
from gateway.storage.tables import Base


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_run_async(context.config.attributes["database_url"]))
