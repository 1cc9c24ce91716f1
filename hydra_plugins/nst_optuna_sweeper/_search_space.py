"""Hydra sweep strings -> optuna distributions, and sampled params -> Hydra overrides."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

# Hydra's interval() always casts its bounds to float; the int-ness of the search space has to
# be read from the text the user wrote.
_INTERVAL_ARGS = re.compile(r"interval\s*\(([^()]*)\)")
_INT_LITERAL = re.compile(r"[+-]?\d(?:_?\d)*")


class SearchSpaceError(HydraException):
    """A sweep parameter that cannot be turned into an optuna distribution."""


@dataclass(frozen=True)
class _Param:
    """One searched override: optuna param ``name`` written back as ``key=<value>``."""

    name: str
    key: str
    distribution: BaseDistribution
    # For categoricals: the Hydra override text of each choice, by choice index.
    choice_texts: tuple[str, ...] | None = None

    def override(self, value: Any) -> str:
        if self.choice_texts is not None:
            assert isinstance(self.distribution, CategoricalDistribution)
            return f"{self.key}={self.choice_texts[self.distribution.to_internal_repr(value)]}"
        return f"{self.key}={format_number(value)}"


@dataclass
class SearchSpace:
    """The ordered overrides of a sweep: searched params and fixed overrides."""

    # Each entry is a fixed override string or a searched _Param; order matters to Hydra
    # (a config-group choice must come before keys inside that group).
    entries: list[str | _Param] = field(default_factory=list)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna param name -> distribution, for ``study.ask(fixed_distributions=...)``."""
        return {e.name: e.distribution for e in self.entries if isinstance(e, _Param)}

    @property
    def fixed(self) -> list[str]:
        """Overrides passed unchanged to every job."""
        return [e for e in self.entries if isinstance(e, str)]

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """The Hydra overrides of one job, given the trial's sampled params."""
        out = []
        for entry in self.entries:
            out.append(entry if isinstance(entry, str) else entry.override(params[entry.name]))
        return out


def format_number(value: Any) -> str:
    """Override text for a sampled int/float that Hydra parses back to the same value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)  # shortest text that round-trips, e.g. 1e-05
    return str(value)


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
        if not override.is_sweep_override():
            assert override.input_line is not None
            space.entries.append(override.input_line)
            continue
        name = override.key_or_group
        if override.package is not None:
            name = f"{name}@{override.package}"
        try:
            space.entries.append(_param(name, override))
        except (ValueError, TypeError, HydraException) as exc:
            # from None: the message says it all, and callers print one line.
            raise SearchSpaceError(f"{override.input_line}: {exc}") from None
    return space


def _param(name: str, override: Override) -> _Param:
    key = override.get_key_element()
    value = override.value()
    if isinstance(value, IntervalSweep):
        return _Param(name, key, _interval(override, value))
    if isinstance(value, RangeSweep):
        return _Param(name, key, _range(value))
    if override.is_choice_sweep():
        # sweep_iterator also expands glob(...) over config-group options.
        items = list(override.sweep_iterator(transformer=Transformer.identity))
        if not items:
            raise ValueError("empty choice")
        choices = tuple(_categorical_value(item) for item in items)
        texts = tuple(Transformer.str(item) for item in items)
        return _Param(name, key, CategoricalDistribution(choices), choice_texts=texts)
    raise ValueError(f"unsupported sweep type {override.value_type}")


def _interval(override: Override, sweep: IntervalSweep) -> BaseDistribution:
    assert sweep.start is not None and sweep.end is not None
    log = "log" in sweep.tags
    if _written_as_ints(override):
        try:
            return IntDistribution(int(sweep.start), int(sweep.end), log=log)
        except ValueError as exc:
            raise ValueError(
                f"{exc} (integer bounds make an int search; write e.g. 0.0 for a float one)"
            ) from None
    return FloatDistribution(float(sweep.start), float(sweep.end), log=log)


def _written_as_ints(override: Override) -> bool:
    match = _INTERVAL_ARGS.search(override.get_value_string() if override.input_line else "")
    if match is None:
        return False
    # interval(start=1, end=5) is allowed too: drop the argument names.
    args = [arg.split("=", 1)[-1].strip() for arg in match.group(1).split(",")]
    return len(args) == 2 and all(_INT_LITERAL.fullmatch(arg) for arg in args)


def _range(sweep: RangeSweep) -> BaseDistribution:
    values = list(sweep.range())
    if not values:
        raise ValueError("empty range")
    step = abs(sweep.step)
    low, high = min(values), max(values)
    if all(isinstance(v, int) for v in values) and isinstance(step, int):
        # Hydra's range() excludes its stop, like Python's; optuna's high is inclusive.
        return IntDistribution(int(low), int(high), log="log" in sweep.tags, step=step)
    if "log" in sweep.tags:
        raise ValueError("a float range cannot be log-scaled; use tag(log, interval(a, b))")
    return FloatDistribution(float(low), float(high), step=float(step))


def _categorical_value(item: Any) -> Any:
    # Optuna stores only None/bool/int/float/str choices; lists and dicts go in as their text.
    if item is None or isinstance(item, bool | int | float | str):
        return item
    return Transformer.str(item)
