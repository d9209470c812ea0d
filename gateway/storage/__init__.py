"""Storage: SQLAlchemy tables and Alembic migrations, the stores (assessments, tokens, jobs, deliveries,
reviews, baselines), domain events recorded in the writing transaction, the audit trail, kept landmarks.
"""
