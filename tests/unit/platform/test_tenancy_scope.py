"""The one tenant-scoping mechanism: scoped sessions see and change only their tenant."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kefu.platform.customers.models import Customer, CustomerPhone
from kefu.platform.tenancy.scope import (
    TenantScopeError,
    bind_tenant,
    cross_tenant,
)


@pytest.fixture
def two_tenants(factory):  # type: ignore[no-untyped-def]
    a, b = factory.tenant("alpha"), factory.tenant("beta")
    for tenant, name in ((a, "Alice"), (b, "Bob")):
        with factory.session(tenant) as db:
            db.add(Customer(name=name, phones=[CustomerPhone(number="+100")]))
            db.commit()
    return a, b


def test_scoped_session_reads_only_its_tenant(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    a, _b = two_tenants
    with factory.session(a) as db:
        assert [c.name for c in db.scalars(sa.select(Customer))] == ["Alice"]
        assert db.scalar(sa.select(sa.func.count()).select_from(CustomerPhone)) == 1
        # Joins and relationship loads are scoped too.
        joined = db.scalars(sa.select(Customer).join(CustomerPhone)).all()
        assert [c.name for c in joined] == ["Alice"]


def test_get_by_id_of_another_tenant_finds_nothing(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b = two_tenants
    with factory.session(b) as db:
        bob_id = db.scalar(sa.select(Customer.id))
    with factory.session(a) as db:
        assert db.get(Customer, bob_id) is None


def test_bulk_update_and_delete_stay_in_the_tenant(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b = two_tenants
    with factory.session(a) as db:
        db.execute(sa.update(Customer).values(notes="touched"))
        deleted = db.execute(sa.delete(Customer).where(Customer.name == "Bob"))
        assert deleted.rowcount == 0
        db.commit()
    with factory.session(b) as db:
        bob = db.scalar(sa.select(Customer))
        assert bob.name == "Bob"
        assert bob.notes == ""


def test_unscoped_queries_fail_closed(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    with factory.session() as db:
        with pytest.raises(TenantScopeError, match="without a tenant scope"):
            db.scalars(sa.select(Customer)).all()
        with pytest.raises(TenantScopeError):
            db.execute(sa.update(Customer).values(notes="x"))
        with cross_tenant(db):
            assert db.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2


def test_new_rows_are_stamped_and_cannot_name_another_tenant(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b = two_tenants
    with factory.session(a) as db:
        carol = Customer(name="Carol")
        db.add(carol)
        db.flush()
        assert carol.tenant_id == a.id
        db.add(Customer(name="Mallory", tenant_id=b.id))
        with pytest.raises(TenantScopeError, match="belongs to tenant"):
            db.flush()
    with factory.session() as db:
        db.add(Customer(name="Nobody"))
        with pytest.raises(TenantScopeError, match="no tenant_id"):
            db.flush()


def test_rows_cannot_move_between_tenants(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b = two_tenants
    with factory.session(a) as db:
        alice = db.scalar(sa.select(Customer))
        alice.tenant_id = b.id
        with pytest.raises(TenantScopeError, match="cannot move"):
            db.flush()


def test_a_session_cannot_be_rebound_to_another_tenant(factory, two_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b = two_tenants
    with factory.session(a) as db, pytest.raises(TenantScopeError, match="already scoped"):
        bind_tenant(db, b.id)
