"""A fast path for long lists of flat objects (strawberry-graphql #3544: a list of 10,000
objects takes seconds, because graphql-core resolves and completes every field of every item
through its general machinery, and strawberry wraps each resolver).

When a list's items are objects and every selected field is a leaf (a scalar or an enum,
``__typename`` too) served by plain attribute access — no resolver of ours, no arguments, no
``@defer`` — each item is completed here in one loop: ``getattr`` and the leaf type's own
``serialize``. That is what graphql-core would have computed, minus its per-field overhead;
anything else (a nested object, a resolver, a null in a non-null field, whose error path and
message graphql-core owns) takes graphql-core's ordinary path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

#: (response key, attribute, serialize, non-null) for each selected field.
Plan = tuple[tuple[str, str | None, Callable[[Any], Any], bool], ...]

_MISSING = object()


def _leaf(kind: GraphQLOutputType) -> tuple[GraphQLScalarType | GraphQLEnumType | None, bool]:
    non_null = isinstance(kind, GraphQLNonNull)
    inner = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return inner, non_null
    return None, non_null


class FastListExecution(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context with the flat-list fast path."""

    def _plan(self, item: GraphQLObjectType, field_details_list: Any) -> Plan | None:
        if item.is_type_of is not None:
            return None
        collected = self.collect_subfields(item, field_details_list)
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            return None
        plan: list[tuple[str, str | None, Callable[[Any], Any], bool]] = []
        for key, details in collected.grouped_field_set.items():
            name = details[0].node.name.value
            if name == "__typename":
                plan.append((key, None, _constant(item.name), True))
                continue
            field = item.fields.get(name)
            if field is None or field.args or details[0].node.arguments:
                return None
            definition = (field.extensions or {}).get("strawberry-definition")
            if definition is None or definition.base_resolver is not None \
                    or definition.extensions:
                return None
            leaf, non_null = _leaf(field.type)
            if leaf is None:
                return None
            plan.append((key, definition.python_name, leaf.serialize, non_null))
        return tuple(plan)

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType],
                            field_details_list: Any, info: GraphQLResolveInfo[Any], path: Any,
                            result: Any, position_context: Any) -> Any:
        item = return_type.of_type
        item = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(result, list | tuple) and isinstance(item, GraphQLObjectType):
            plan = self._plan(item, field_details_list)
            if plan is not None:
                done = _complete(plan, result)
                if done is not None:
                    return done
        return super().complete_list_value(return_type, field_details_list, info, path,
                                           result, position_context)


def _constant(value: str) -> Callable[[Any], str]:
    def serialize(_: Any) -> str:
        return value
    return serialize


def _complete(plan: Plan, items: list[Any] | tuple[Any, ...]) -> list[dict[str, Any]] | None:
    """Every item as the plan says, or None (take the ordinary path) at the first value the
    fast path does not handle: a missing attribute, a null in a non-null field, a value its
    type cannot serialise."""
    out = []
    for obj in items:
        row: dict[str, Any] = {}
        for key, attr, serialize, non_null in plan:
            value = obj if attr is None else getattr(obj, attr, _MISSING)
            if value is None:
                if non_null:
                    return None
                row[key] = None
            elif value is _MISSING:
                return None
            else:
                try:
                    row[key] = serialize(value)
                except Exception:  # graphql-core reports it, with the item's path
                    return None
        out.append(row)
    return out
