"""The API actors (alice, bob) of tests/functional/api, for the messaging tests."""

from tests.functional.api.conftest import (  # noqa: F401 - fixtures
    _cheap_password_hashing,
    actor,
    alice,
    bob,
)
