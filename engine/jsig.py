"""A typed front for ``jmespath.functions.signature``: rule functions pass plain dicts
(the stubs want a TypedDict), and without the stubs an untyped decorator would erase the
types of every rule function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jmespath.functions

F = TypeVar("F", bound=Callable[..., Any])


def signature(*arguments: Any) -> Callable[[F], F]:
    decorator: Callable[[F], F] = jmespath.functions.signature(*arguments)
    return decorator
