"""Turns a search request (filter, order_by, page_token, page_size) into parts of a query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Label, Row, and_

from registry_service.errors import Flaw, InvalidArgument
from registry_service.search import page_tokens
from registry_service.search.entities import Entity
from registry_service.search.filters import compile_filter
from registry_service.search.ordering import keyset_after, parse_order_by
from registry_service.search.parser import parse_filter

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Distinctive so the labels cannot collide with a table column in the store's SELECT.
SORT_LABEL_PREFIX = "search_sort_"


@dataclass(frozen=True)
class SearchQuery:
    """The parts of one page's SELECT.

    The store selects its columns plus ``sort_columns``, applies ``where`` and ``order_by``,
    fetches ``page_size + 1`` rows and, when the extra row came back, passes the last row it keeps
    to ``next_page_token``.
    """

    # The filter and, when continuing from a token, "after the previous page's last row".
    where: ColumnElement[bool]
    # Ends in a unique tie-break, so the order is total.
    order_by: list[ColumnElement[Any]]
    sort_columns: list[Label[Any]]
    page_size: int
    # Identifies the normalized filter and order; tokens carry it.
    fingerprint: str

    def next_page_token(self, last_row: Row[Any]) -> str:
        """The token that continues after ``last_row``, which must include ``sort_columns``."""
        values = [last_row._mapping[label.name] for label in self.sort_columns]
        return page_tokens.encode(values, self.fingerprint)


def effective_page_size(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument(
            f"page_size must not be negative, got {page_size}",
            field="page_size",
            flaw=Flaw.NEGATIVE,
            value=str(page_size),
        )
    if page_size == 0:
        return DEFAULT_PAGE_SIZE
    return min(page_size, MAX_PAGE_SIZE)


def search_query(
    entity: Entity, filter: str, order_by: Sequence[str], page_token: str, page_size: int
) -> SearchQuery:
    """The query parts of one page of a search over ``entity``."""
    size = effective_page_size(page_size)
    tree = parse_filter(filter)
    where = compile_filter(tree, entity)
    keys = parse_order_by(order_by, entity)
    fingerprint = page_tokens.fingerprint(
        entity.name, repr(tree), ",".join(key.describe() for key in keys)
    )
    if page_token:
        values = page_tokens.decode(page_token, fingerprint, [key.column.integer for key in keys])
        where = and_(where, keyset_after(keys, values))
    return SearchQuery(
        where=where,
        order_by=[key.clause() for key in keys],
        sort_columns=[
            key.column.column.label(f"{SORT_LABEL_PREFIX}{index}") for index, key in enumerate(keys)
        ],
        page_size=size,
        fingerprint=fingerprint,
    )
