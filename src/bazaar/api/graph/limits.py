"""Depth and cost limits, checked while the document is validated (before any resolver runs):
a hostile query gets its error at once, not a timeout.

Depth counts nested selections (fragments followed, introspection's own ``__schema`` /
``__type`` trees not counted, so GraphiQL's introspection query passes). Cost is one per field,
multiplied for a list field by its ``first`` argument (the page size; a variable counts as the
largest page), so ``products(first: 100) { edges { node { … } } }`` costs 100 times its node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from bazaar.api.graph.pages import MAX_FIRST


@dataclass(frozen=True)
class QueryLimits:
    """``max_depth`` nested selections; ``max_cost`` fields, page sizes multiplied in;
    ``max_tokens`` lexical tokens in the document (the parser stops there)."""

    max_depth: int = 10
    max_cost: int = 5_000
    max_tokens: int = 5_000


def _page(field: FieldNode) -> int:
    for arg in field.arguments or ():
        if arg.name.value == "first":
            if isinstance(arg.value, IntValueNode):
                return max(1, min(int(arg.value.value), MAX_FIRST))
            return MAX_FIRST  # a variable: the largest page it may ask for
    return 1


class _Walker:
    def __init__(self, context: ValidationContext, depth_cap: int) -> None:
        self.context = context
        self.cap = depth_cap

    def measure(self, selections: SelectionSetNode | None, level: int,
                seen: frozenset[str]) -> tuple[int, int]:
        """(deepest level, cost) under ``selections``; stops descending past the cap."""
        if selections is None or level > self.cap:
            return level, 0
        deepest, cost = level, 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                if node.name.value.startswith("__"):
                    continue  # introspection and __typename: not the shop's data
                depth, inner = self.measure(node.selection_set, level + 1, seen)
                deepest, cost = max(deepest, depth), cost + (1 + inner) * _page(node)
            elif isinstance(node, InlineFragmentNode):
                depth, inner = self.measure(node.selection_set, level, seen)
                deepest, cost = max(deepest, depth), cost + inner
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.context.get_fragment(name)
                if fragment is None or name in seen:
                    continue  # unknown or cyclic: other rules report it
                depth, inner = self.measure(fragment.selection_set, level, seen | {name})
                deepest, cost = max(deepest, depth), cost + inner
        return deepest, cost


def rule(limits: QueryLimits) -> type[ValidationRule]:
    """A graphql-core validation rule enforcing ``limits`` on every operation."""

    class ShopQueryLimits(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode,
                                       *_: Any) -> None:
            depth, cost = _Walker(self.context, limits.max_depth).measure(
                node.selection_set, 0, frozenset())
            name = node.name.value if node.name else "anonymous"
            if depth > limits.max_depth:
                self.report_error(GraphQLError(
                    f"operation {name!r} is nested more than {limits.max_depth} levels deep",
                    node, extensions={"code": "QUERY_TOO_DEEP",
                                      "maxDepth": limits.max_depth}))
            elif cost > limits.max_cost:
                self.report_error(GraphQLError(
                    f"operation {name!r} costs {cost} (fields times page sizes); the most one "
                    f"request may cost is {limits.max_cost}", node,
                    extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost,
                                "maxCost": limits.max_cost}))

    return ShopQueryLimits
