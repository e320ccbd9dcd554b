"""The flat-list fast path answers exactly what graphql-core's ordinary path answers: same
data (aliases, __typename, @skip/@include, enums), same errors where it steps aside."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import pytest
import strawberry

from bazaar.api.graph.fastlists import FastListExecution


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Tag:
    label: str


@strawberry.type
class Item:
    id: int
    name: str
    price: float
    colour: Colour
    note: str | None
    tag: Tag

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


def items(n: int, broken: bool = False) -> list[Item]:
    made = [Item(id=i, name=f"n{i}", price=i / 4, colour=Colour.RED if i % 2 else Colour.BLUE,
                 note=None if i % 3 else f"x{i}", tag=Tag(label=f"t{i}")) for i in range(n)]
    if broken:
        made[5].name = None  # type: ignore[assignment]  # a null in a non-null field
    return made


@strawberry.type
class Query:
    @strawberry.field
    def items(self, broken: bool = False) -> list[Item]:
        return items(50, broken)

    @strawberry.field
    def huge(self) -> list[Item]:
        big = Item(id=2**40, name="big", price=1, colour=Colour.RED, note=None,
                   tag=Tag(label="t"))
        return [*items(3, broken=False), big]


PLAIN = strawberry.Schema(query=Query)
FAST = strawberry.Schema(query=Query, execution_context_class=FastListExecution)


def both(query: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    async def run(schema: strawberry.Schema) -> Any:
        r = await schema.execute(query, variable_values=variables)
        return r.data, [(e.message, e.path) for e in r.errors or ()]
    return asyncio.run(run(PLAIN)), asyncio.run(run(FAST))


@pytest.mark.parametrize("query", [
    "{ items { id name price colour note __typename } }",  # colour: an enum leaf
    "{ items { a: id b: name id } }",
    "query($s: Boolean!) { items { id name @skip(if: $s) note @include(if: $s) } }",
    "{ items { id tag { label } } }",           # nested object: the ordinary path
    "{ items { id shout } }",                   # a resolver: the ordinary path
    "{ items(broken: true) { id name } }",      # null in a non-null field: its error
    "{ huge { id } }",                          # Int beyond 32 bits: its error
    "{ items { ... on Item { id } ...F } } fragment F on Item { name }",
])
def test_the_fast_path_answers_what_graphql_core_does(query: str) -> None:
    plain, fast = both(query, {"s": True})
    assert fast == plain
    assert plain[0] is not None or plain[1]
