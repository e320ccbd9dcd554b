"""GraphQL's native errors: every failure a resolver lets out becomes a ``GraphQLError``
whose ``extensions.code`` is the shared :class:`~bazaar.api.outcomes.Outcome` code (plus its
details: ``field``, ``requested``/``available``, ``reason``, ``retryable``); errors of the
document itself get ``GRAPHQL_PARSE_FAILED`` / ``GRAPHQL_VALIDATION_FAILED`` /
``QUERY_TOO_DEEP`` / ``QUERY_TOO_COMPLEX``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from graphql import GraphQLError

from bazaar.api.outcomes import Outcome, classify

F = TypeVar("F", bound=Callable[..., Any])


def extensions(outcome: Outcome) -> dict[str, Any]:
    found: dict[str, Any] = {"code": outcome.code}
    if outcome.field is not None:
        found["field"] = outcome.field
    if outcome.retryable:
        found["retryable"] = True
    found.update(outcome.details)
    return found


def as_graphql(exc: BaseException) -> GraphQLError:
    if isinstance(exc, GraphQLError):
        return exc
    outcome = classify(exc)
    return GraphQLError(outcome.message, extensions=extensions(outcome))


def native(resolver: F) -> F:
    """Resolver errors as native GraphQL errors (coroutines and async generators alike)."""
    if inspect.isasyncgenfunction(resolver):
        @functools.wraps(resolver)
        async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for item in resolver(*args, **kwargs):
                    yield item
            except Exception as exc:
                raise as_graphql(exc) from exc
        return cast(F, stream)
    if inspect.iscoroutinefunction(resolver):
        @functools.wraps(resolver)
        async def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return await resolver(*args, **kwargs)
            except Exception as exc:
                raise as_graphql(exc) from exc
        return cast(F, run)

    @functools.wraps(resolver)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return resolver(*args, **kwargs)
        except Exception as exc:
            raise as_graphql(exc) from exc
    return cast(F, call)


def document_code(error: GraphQLError) -> str:
    """The code of an error graphql-core raised about the document (not a resolver's)."""
    if "more than" in error.message and "tokens" in error.message:
        return "QUERY_TOO_COMPLEX"  # graphql-core's parser stopped at the token limit
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def formatted(error: GraphQLError) -> dict[str, Any]:
    """The error as the response carries it, always with ``extensions.code``."""
    found: dict[str, Any] = dict(error.formatted)
    ext = dict(found.get("extensions") or {})
    ext.setdefault("code", document_code(error))
    found["extensions"] = ext
    return found
