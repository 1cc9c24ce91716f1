"""Small per-process caches: what one run builds, the next run in the same process reuses.

A sweep's jobs run one after another in one process (Hydra's basic launcher) or a few worker
processes (joblib); the network, its cut to a layer set, the traced step and the targets are
the same from job to job. ``Cache.kept = 0`` turns a cache off (``make bench`` compares both).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Cache(Generic[Value]):
    """Least-recently-used values by key, at most ``kept`` of them."""

    def __init__(self, kept: int):
        self.kept = kept
        self._values: OrderedDict[Hashable, Value] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Value]) -> Value:
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = build()
        self._values[key] = value
        while len(self._values) > self.kept:
            self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
