"""The store: one database URL (SQLite by default, PostgreSQL when set), Alembic for the schema."""
