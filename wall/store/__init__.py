"""Persistent state of the service: SQLAlchemy 2 models and the database they live in (SQLite WAL by default)."""
