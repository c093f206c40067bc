"""Argument checks shared by the model builders (ValueErrors in Keras' `Received:` style)."""

from __future__ import annotations

import numbers

__all__ = ["check_positive_int", "check_rate"]


def check_positive_int(**kwargs) -> None:
    """Raise unless every keyword value is an integer >= 1 (bools are not integers here).

    Raises:
        ValueError: naming the first bad argument, e.g. `depth must be a positive integer.
            Received: depth=0`.
    """
    for name, value in kwargs.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")


def check_rate(name: str, value: float) -> None:
    """Raise unless `value` (a dropout or similar rate) is in [0, 1).

    Raises:
        ValueError: `<name> must be in [0, 1). Received: <name>=<value>`.
    """
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1). Received: {name}={value!r}")
