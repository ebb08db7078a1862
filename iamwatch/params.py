"""Typed, read-only access to the free-form parts of a CloudTrail record.

requestParameters, responseElements and additionalEventData differ for every API call and
are attacker-influenced, so detectors read them through these accessors, which return a
value only when it has the expected type, instead of chaining ``dict.get`` calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_NULLISH = frozenset({"", "null", "None"})


class Params(Mapping[str, Any]):
    """An immutable view over one JSON object from a record."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: Mapping[str, Any] = data if data is not None else {}

    @classmethod
    def coerce(cls, value: object) -> Params:
        """Accept what real records contain: an object, ``null``, or the string "null"."""
        if isinstance(value, Params):
            return value
        if isinstance(value, Mapping):
            return cls(value)
        return _EMPTY

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Params({dict(self._data)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Params):
            return dict(self._data) == dict(other._data)
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return id(self)

    def get_str(self, *path: str) -> str | None:
        """The string at ``path``; numbers are rendered, null-like strings are ``None``."""
        value = self._walk(path)
        if isinstance(value, str):
            return None if value in _NULLISH else value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return None

    def get_bool(self, *path: str) -> bool | None:
        """Booleans as CloudTrail writes them: JSON booleans or the strings "true"/"false"."""
        return parse_bool(self._walk(path))

    def get_int(self, *path: str) -> int | None:
        value = self._walk(path)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return None
        return None

    def get_params(self, *path: str) -> Params:
        return Params.coerce(self._walk(path))

    def get_list(self, *path: str) -> tuple[Any, ...]:
        value = self._walk(path)
        if isinstance(value, list | tuple):
            return tuple(value)
        return ()

    def get_raw(self, *path: str) -> Any:
        return self._walk(path)

    def _walk(self, path: tuple[str, ...]) -> Any:
        node: Any = self._data
        for key in path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)


_EMPTY = Params({})

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None
