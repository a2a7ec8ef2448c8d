"""Database plumbing: the declarative base, shared column types, engines and sessions.

One ``metadata`` for every model so Alembic sees them all. Ids are UUIDv7 (time-ordered, so
inserts stay local in B-tree indexes, and not guessable like serials). Times are stored as
UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import enum
import os
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

# Constraint names that are the same on every backend, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def uuid7() -> uuid.UUID:
    """A version 7 UUID (RFC 9562 §5.7): 48-bit Unix milliseconds then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68) << 64 & (0xFFF << 64)  # rand_a: 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b: 62 bits
    return uuid.UUID(int=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always loads timezone-aware.

    SQLite has no time zone type, so values are normalised to naive UTC there; PostgreSQL
    keeps ``timestamptz``. Naive datetimes are refused: they are a bug waiting to happen.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL (indexable), JSON text elsewhere.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")

uuid_pk = Annotated[uuid.UUID, mapped_column(sa.Uuid, primary_key=True, default=uuid7)]
created_at = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]
updated_at = Annotated[
    datetime, mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
]


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a plain class attribute
        datetime: UTCDateTime,
        uuid.UUID: sa.Uuid,
        dict[str, Any]: JSONDocument,
        list[Any]: JSONDocument,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers work while one writes;
    # busy_timeout makes concurrent writers wait instead of failing at once.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with kefu's per-backend connection setup.

    For SQLite the parent directory is created so the embedded default works on a fresh
    checkout.
    """
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def enum_type(enum_cls: type[enum.Enum], length: int = 24) -> sa.Enum:
    """Store an enum by its value as a short string (no native type: adding a member needs no
    ALTER TYPE, so migrations stay compatible with the previous release)."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class TimestampMixin:
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]


def paginate(
    session: Any, statement: sa.Select[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of ``statement``'s rows and the total count (both tenant-scoped as usual)."""
    counted = statement.order_by(None).subquery()
    total = session.scalar(sa.select(sa.func.count()).select_from(counted))
    items = list(session.scalars(statement.limit(limit).offset(offset)))
    return items, int(total or 0)
