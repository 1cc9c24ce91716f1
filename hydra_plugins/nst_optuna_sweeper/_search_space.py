"""Hydra sweep strings -> optuna distributions, and sampled params -> Hydra overrides.

The rules are those of Hydra's official Optuna sweeper, so a search space means the same there
and here: ``interval(a, b)`` is a float range unless wrapped in ``int(...)``; ``range(a, b)``
includes ``b`` when the steps reach it; ``shuffle(...)`` and ``choice(...)`` are categorical;
a param is named by its full key element (``+w``, ``key@pkg``). The grid sampler takes Hydra's
own values of a ``range`` (stop excluded), as the official plugin's grid does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import CompactHydraException, HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


class SearchSpaceError(CompactHydraException):
    """A sweep parameter that cannot be turned into an optuna distribution (one line)."""


@dataclass(frozen=True)
class _Param:
    """One searched override: optuna param ``name``, written back as ``name=<value>``."""

    name: str
    distribution: BaseDistribution
    # For categoricals: the Hydra override text of each choice, by choice index.
    choice_texts: tuple[str, ...] | None = None
    # The values a grid sampler visits; None when the param is continuous.
    grid: tuple[Any, ...] | None = None

    def override(self, value: Any) -> str:
        if self.choice_texts is not None:
            assert isinstance(self.distribution, CategoricalDistribution)
            return f"{self.name}={self.choice_texts[self.distribution.to_internal_repr(value)]}"
        return f"{self.name}={value_text(value)}"


@dataclass(frozen=True)
class _Fixed:
    """An override passed unchanged to every job: ``key=value``, or a deletion ``~key``."""

    key: str
    line: str
    value: str | None  # None for a deletion


@dataclass
class SearchSpace:
    """The ordered overrides of a sweep: searched params and fixed overrides."""

    # Order matters to Hydra: a config-group choice must come before keys inside that group.
    entries: list[_Param | _Fixed] = field(default_factory=list)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna param name -> distribution, for ``study.ask(fixed_distributions=...)``."""
        return {e.name: e.distribution for e in self.entries if isinstance(e, _Param)}

    @property
    def fixed(self) -> list[str]:
        """Overrides passed unchanged to every job (deletions included)."""
        return [e.line for e in self.entries if isinstance(e, _Fixed)]

    @property
    def fixed_params(self) -> dict[str, str]:
        """Key -> value text of the fixed overrides (the official plugin's ``fixed_params``)."""
        return {
            e.key: e.value for e in self.entries if isinstance(e, _Fixed) and e.value is not None
        }

    @property
    def deletions(self) -> list[str]:
        """The ``~key`` overrides, as written."""
        return [e.line for e in self.entries if isinstance(e, _Fixed) and e.value is None]

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """The Hydra overrides of one job, given the trial's sampled params.

        Params not in this space (suggested by ``custom_search_space``) come last.
        """
        out = []
        for entry in self.entries:
            out.append(
                entry.line if isinstance(entry, _Fixed) else entry.override(params[entry.name])
            )
        known = self.distributions
        out.extend(f"{name}={value_text(v)}" for name, v in params.items() if name not in known)
        return out

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's search space: every param's discrete values."""
        grid = {}
        for entry in self.entries:
            if not isinstance(entry, _Param):
                continue
            if entry.grid is None:
                raise SearchSpaceError(
                    f"{entry.name}: the grid sampler needs discrete values; use choice(...) or "
                    "range(...), or another hydra/sweeper/sampler"
                )
            grid[entry.name] = list(entry.grid)
        return grid


def value_text(value: Any) -> str:
    """Override text for a sampled value that Hydra parses back to the same value and type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)  # shortest text that round-trips, e.g. 1e-05
    if isinstance(value, str):
        # Quoted, so "1" stays a string and spaces or commas stay in the value.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as an override")


def parse_overrides(
    params: Mapping[str, Any] | None,
    arguments: Sequence[str],
    parser: OverridesParser | None = None,
) -> list[Override]:
    """``params`` then command-line ``arguments``; a later override of the same key wins."""
    parser = parser or OverridesParser.create()
    lines = [f"{k}={v}" for k, v in (params or {}).items()]
    lines.extend(arguments)
    merged: dict[tuple[str, str | None], Override] = {}
    for override in parser.parse_overrides(lines):
        ident = (override.key_or_group, override.package)
        # Re-insert so the winner takes the position of its latest mention.
        merged.pop(ident, None)
        merged[ident] = override
    return list(merged.values())


def build_search_space(overrides: Iterable[Override]) -> SearchSpace:
    """Map each sweep override to a distribution; keep the other overrides as they are."""
    space = SearchSpace()
    for override in overrides:
        assert override.input_line is not None
        key = override.get_key_element()
        if not override.is_sweep_override():
            value = None if override.is_delete() else override.get_value_element_as_str()
            space.entries.append(_Fixed(key, override.input_line, value))
            continue
        try:
            space.entries.append(_param(key, override))
        except (ValueError, TypeError, HydraException) as exc:
            # from None: the message says it all, and callers print one line.
            raise SearchSpaceError(f"{override.input_line}: {exc}") from None
    return space


def create_optuna_distribution_from_override(override: Override) -> Any:
    """The official plugin's function: a distribution, or a fixed override's value text."""
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    return _param(override.get_key_element(), override).distribution


def create_params_from_overrides(
    arguments: list[str],
) -> tuple[dict[str, BaseDistribution], dict[str, str], list[str]]:
    """The official plugin's function: (distributions, fixed values, deletions)."""
    space = build_search_space(parse_overrides(None, arguments))
    return space.distributions, space.fixed_params, space.deletions


def _param(name: str, override: Override) -> _Param:
    value = override.value()
    if isinstance(value, IntervalSweep):
        return _Param(name, _interval(value))
    if isinstance(value, RangeSweep) and not value.shuffle:
        # Hydra's own values (stop excluded) are the grid, as in the official plugin.
        return _Param(name, _range(value), grid=tuple(value.range()))
    if override.is_choice_sweep() or isinstance(value, RangeSweep):
        # sweep_iterator also expands glob(...) over config-group options.
        items = list(override.sweep_iterator(transformer=Transformer.identity))
        if not items:
            raise ValueError("empty choice")
        distribution = CategoricalDistribution(tuple(_categorical_value(i) for i in items))
        texts = tuple(Transformer.str(item) for item in items)
        return _Param(name, distribution, choice_texts=texts, grid=distribution.choices)
    raise ValueError(f"unsupported sweep type {override.value_type}")


def _interval(sweep: IntervalSweep) -> BaseDistribution:
    # Hydra gives interval() float bounds unless the user wrote int(interval(...)).
    assert sweep.start is not None and sweep.end is not None
    log = "log" in sweep.tags
    if isinstance(sweep.start, int) and isinstance(sweep.end, int):
        return IntDistribution(sweep.start, sweep.end, log=log)
    return FloatDistribution(float(sweep.start), float(sweep.end), log=log)


def _range(sweep: RangeSweep) -> BaseDistribution:
    start, stop, step = sweep.start, sweep.stop, sweep.step
    assert start is not None and stop is not None and step is not None
    if step == 0:
        raise ValueError("range step must not be 0")
    floats = any(isinstance(v, float) for v in (start, stop, step))
    # Decimal arithmetic, as optuna checks the step: 0.1 + 3 * 0.1 must be 0.4, not 0.4000...1.
    d_start, d_stop, d_step = (Decimal(str(v)) for v in (start, stop, step))
    steps = (d_stop - d_start) // d_step
    if steps < 0:
        raise ValueError("empty range")
    # The last value the steps reach, stop included: the official plugin's inclusive range.
    far = d_start + steps * d_step
    low, high = min(d_start, far), max(d_start, far)
    log = "log" in sweep.tags
    if floats:
        if log:
            raise ValueError("a float range cannot be log-scaled; use tag(log, interval(a, b))")
        return FloatDistribution(float(low), float(high), step=float(abs(d_step)))
    return IntDistribution(int(low), int(high), log=log, step=int(abs(d_step)))


def _categorical_value(item: Any) -> Any:
    # Optuna stores only None/bool/int/float/str choices; lists and dicts go in as their text.
    if item is None or isinstance(item, bool | int | float | str):
        return item
    return Transformer.str(item)
