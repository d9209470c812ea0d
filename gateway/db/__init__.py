"""Persistence: SQLAlchemy 2 async tables, Alembic migrations, engine creation."""
