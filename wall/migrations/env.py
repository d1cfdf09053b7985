"""Alembic environment: runs on the connection citywall hands over (see wall.store.db.Database.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import wall.store.models  # noqa: F401 - registers every table on Base.metadata
from wall.store.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic command line: use the URL from the config
        url = config.get_main_option("sqlalchemy.url")
        assert url is not None, "the alembic config names no sqlalchemy.url"
        engine = create_engine(url)
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


run()
