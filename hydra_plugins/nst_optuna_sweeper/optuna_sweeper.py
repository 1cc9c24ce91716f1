"""The official plugin's ``optuna_sweeper.OptunaSweeper`` name, for code written against it.

Resolved on access (PEP 562) rather than imported: Hydra lists every sweeper class it finds in
a plugin module, and this one must not appear twice.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "OptunaSweeper":
        from .sweeper import NstOptunaSweeper

        return NstOptunaSweeper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
