"""Checks that job arguments, job results and events are plain JSON values.

Jobs cross process boundaries (RQ stores them in Redis) and events cross the wire (Redis
pub/sub), so both carry JSON only: ``None``, ``bool``, ``int``, finite ``float``, ``str``,
lists (tuples are accepted and arrive as lists) and dicts with ``str`` keys. The in-process
implementations apply the same check and the same JSON round trip, so code that works
embedded works in production too. ORM objects, UUIDs, datetimes and sets are refused with a
message naming where the bad value sits; pass ``str(obj.id)`` and ISO strings instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NotJSONError(TypeError):
    """A value meant for a job or an event is not a plain JSON value."""


_HINT = (
    "pass ids and plain values (str, int, float, bool, None, lists, dicts with str keys), "
    "e.g. str(obj.id) instead of an ORM object or UUID"
)


def _describe(value: Any) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return f"a {kind.__name__}"
    return f"a {kind.__module__}.{kind.__qualname__}"


def check_json(value: Any, where: str) -> None:
    """Raise :class:`NotJSONError` unless ``value`` is a plain JSON value.

    Args:
        value: the value to check, walked recursively.
        where: how to name ``value`` in the error, e.g. ``"argument 1 of send_mail"``.

    Raises:
        NotJSONError: naming the path of the first offending value and its type.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        here = f"{where} at {path}" if path else where
        if depth > 64:
            raise NotJSONError(f"{here} is nested more than 64 levels deep")
        if item is None or isinstance(item, bool | str):
            continue
        if isinstance(item, int):
            if type(item) is not int:  # an IntEnum or other subclass would not round-trip
                raise NotJSONError(f"{here} is {_describe(item)}, not JSON; {_HINT}")
            continue
        if isinstance(item, float):
            if type(item) is not float or not math.isfinite(item):
                raise NotJSONError(f"{here} is {item!r}, which JSON cannot carry; {_HINT}")
            continue
        if isinstance(item, list | tuple):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
            continue
        if isinstance(item, dict):
            for key, v in item.items():
                if not isinstance(key, str):
                    raise NotJSONError(
                        f"{here} has the key {key!r} ({_describe(key)}); JSON object keys "
                        "must be strings"
                    )
                stack.append((v, f"{path}[{key!r}]", depth + 1))
            continue
        raise NotJSONError(f"{here} is {_describe(item)}, not JSON; {_HINT}")


def to_json(value: Any, where: str) -> str:
    """Check ``value`` with :func:`check_json` and return its compact JSON text.

    Raises:
        NotJSONError: as :func:`check_json`.
    """
    check_json(value, where)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_copy(value: Any, where: str) -> Any:
    """A deep copy of ``value`` as it would come back from JSON (tuples become lists).

    Raises:
        NotJSONError: as :func:`check_json`.
    """
    return json.loads(to_json(value, where))
