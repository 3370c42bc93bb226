"""What a kind of search can filter and sort on, as columns the store hands in.

The search package knows no tables: the store describes each searchable kind of record as an
``Entity`` (see store/search_columns.py), and the filter and ordering compile against that.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table


class ValueKind(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    # Stored in canonical spelling; equality literals are matched in any case.
    STAGE = "stage"
    # Not a column: whether an alias of the model (pointing at this version) matches.
    ALIAS = "alias"


@dataclass(frozen=True)
class Lookup:
    """A column of another table reached through a key: under an OR, a positive comparison on it
    becomes ``outer IN (SELECT inner FROM … WHERE column …)``. The model name of a version is
    one: the database can then find the model by its name index and its versions by theirs, and
    combine the OR's terms through several indexes (SQLite's multi-index OR) instead of scanning
    the whole join in sort order."""

    outer: ColumnElement[Any]
    inner: ColumnElement[Any]
    column: ColumnElement[Any]


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: ValueKind
    # None for ALIAS, which has no column of its own.
    column: ColumnElement[Any] | None
    lookup: Lookup | None = None


@dataclass(frozen=True)
class SortColumn:
    name: str
    column: ColumnElement[Any]
    # Page tokens check that a decoded value has the column's type.
    integer: bool


@dataclass(frozen=True)
class Entity:
    """One searchable kind of record."""

    # Distinguishes the searches in page-token fingerprints and names them in messages.
    name: str
    # The table the filter's EXISTS subqueries correlate with.
    table: Table
    attributes: Mapping[str, Attribute]
    tag_key: ColumnElement[Any]
    tag_value: ColumnElement[Any]
    # Tag values are indexed by a prefix: the expression of that index over a value (a column
    # or a literal), and its length in characters. = and IN compare the prefix as well, which
    # the exact comparison implies, so that the index can be used.
    tag_value_prefix: Callable[[Any], ColumnElement[Any]]
    tag_value_prefix_length: int
    # Ties a tag row to the row being filtered.
    tag_scope: ColumnElement[bool]
    # A positive tag comparison is "key IN (owners of matching tags)": unlike a correlated
    # EXISTS, both databases can start from the tag index and look the owners up.
    key: ColumnElement[Any]
    tag_owner: ColumnElement[Any]
    alias_name: ColumnElement[Any]
    alias_scope: ColumnElement[bool]
    # The same for aliases: the row's columns and the alias columns that point at it.
    alias_target: tuple[ColumnElement[Any], ...]
    alias_owner: tuple[ColumnElement[Any], ...]
    sort_columns: Mapping[str, SortColumn]
    # MLflow spellings of order_by keys.
    sort_synonyms: Mapping[str, str]
    # (key, descending) pairs.
    default_order: tuple[tuple[str, bool], ...]
    # Appended unless already present; together they are unique, so the order is total and
    # keyset paging neither skips nor repeats rows.
    tie_breaks: tuple[tuple[str, bool], ...]

    def attribute_names(self) -> str:
        return ", ".join(sorted(self.attributes)) + ", tag.<key>"

    def sort_key_names(self) -> str:
        names = [
            name
            + "".join(f" (or {s})" for s, target in self.sort_synonyms.items() if target == name)
            for name in self.sort_columns
        ]
        return ", ".join(names)
