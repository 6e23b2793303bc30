"""A typed front for ``jmespath.functions.signature`` (jmespath ships no type hints, and
an untyped decorator would erase the types of every rule function)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import jmespath.functions

F = TypeVar("F", bound=Callable[..., Any])


def signature(*arguments: dict[str, Any]) -> Callable[[F], F]:
    return cast(Callable[[F], F], jmespath.functions.signature(*arguments))
