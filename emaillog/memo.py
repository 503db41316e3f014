"""A cache for functions of text that comes from strangers: only short arguments are remembered."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def cached_when_short(
    maxsize: int, longest: int, length: Callable[P, int]
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``functools.lru_cache`` for the calls whose ``length(*args)`` is at most ``longest``.

    Headers repeat across a batch (the same correspondents, the same Content-Types), so caching
    their parse pays; but a hostile message can make them megabytes long, and a cache of those
    would hold megabytes per entry. Longer arguments are computed every time, never remembered.
    """

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            if length(*args, **kwargs) > longest:
                return function(*args, **kwargs)
            return cached(*args, **kwargs)  # type: ignore[arg-type]

        return call

    return wrap
