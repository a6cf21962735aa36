"""Alembic environment: the URL comes from RLHF_DATABASE_URL (or the Config that `rlhf migrate` builds)."""

from alembic import context
from sqlalchemy import create_engine, pool

from services.core.orm import Base
from services.core.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
if not url:
    raise RuntimeError("RLHF_DATABASE_URL is not set")


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
