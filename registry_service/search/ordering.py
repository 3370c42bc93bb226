"""Parses order_by entries into a total sort order and builds its keyset condition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from registry_service.errors import Flaw, InvalidArgument
from registry_service.search.entities import Entity, SortColumn

MAX_ORDER_BY_ENTRIES = 10
_PREFIXES = ("attribute.", "attributes.")


@dataclass(frozen=True)
class SortKey:
    column: SortColumn
    descending: bool

    def describe(self) -> str:
        return f"{self.column.name} {'DESC' if self.descending else 'ASC'}"

    def clause(self) -> ColumnElement[Any]:
        return self.column.column.desc() if self.descending else self.column.column.asc()


def parse_order_by(entries: Sequence[str], entity: Entity) -> list[SortKey]:
    """The keys of ``entries`` (or the default), followed by the tie-breaks not already there."""
    if len(entries) > MAX_ORDER_BY_ENTRIES:
        raise _error(f"has {len(entries)} entries; the maximum is {MAX_ORDER_BY_ENTRIES}")
    requested = [_parse_entry(entry, entity) for entry in entries]
    if not requested:
        requested = [
            SortKey(entity.sort_columns[name], descending)
            for name, descending in entity.default_order
        ]
    seen: set[str] = set()
    for key in requested:
        if key.column.name in seen:
            raise _error(f"lists {key.column.name} more than once")
        seen.add(key.column.name)
    for name, descending in entity.tie_breaks:
        if name not in seen:
            requested.append(SortKey(entity.sort_columns[name], descending))
            seen.add(name)
    return requested


def _parse_entry(entry: str, entity: Entity) -> SortKey:
    words = entry.split()
    if not 1 <= len(words) <= 2:
        raise _error(
            f"entry {entry[:100]!r} must be '<key>' or '<key> ASC|DESC'; "
            f"keys for {entity.name}: {entity.sort_key_names()}"
        )
    name = words[0].lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    name = entity.sort_synonyms.get(name, name)
    column = entity.sort_columns.get(name)
    if column is None:
        raise _error(
            f"key {words[0][:100]!r} is unknown; keys for {entity.name}: {entity.sort_key_names()}"
        )
    direction = words[1].upper() if len(words) == 2 else "ASC"
    if direction not in ("ASC", "DESC"):
        raise _error(f"direction {words[1][:100]!r} is not ASC or DESC")
    return SortKey(column, direction == "DESC")


def keyset_after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after the row whose sort-key values are ``values``, in the order of ``keys``.

    Spelled as (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ... rather than a row-value
    comparison, because the keys may mix ASC and DESC. The redundant "k1 at or after v1" in front
    is what lets the database start an index range scan at the previous page's end instead of
    reading (and discarding) every earlier row: without it a late page costs as much as OFFSET.
    """
    first = keys[0].column.column
    bound = first <= values[0] if keys[0].descending else first >= values[0]
    alternatives = []
    for index, key in enumerate(keys):
        column = key.column.column
        equal = [k.column.column == v for k, v in zip(keys[:index], values[:index], strict=True)]
        beyond = column < values[index] if key.descending else column > values[index]
        alternatives.append(and_(*equal, beyond))
    return and_(bound, or_(*alternatives))


def _error(detail: str) -> InvalidArgument:
    """A refused order_by: its message leads with the field, ``detail`` says the rest."""
    return InvalidArgument(
        f"order_by {detail}", field="order_by", flaw=Flaw.MALFORMED, detail=detail
    )
