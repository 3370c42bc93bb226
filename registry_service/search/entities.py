"""What each kind of search can filter and sort on, mapped to the schema's columns."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Table, and_, type_coerce

from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)


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


# The models table once more, for the name lookup: a different name from the one the search joins.
_named_models = registered_models.alias("named_models")


def _attributes(*attributes: Attribute) -> dict[str, Attribute]:
    return {attribute.name: attribute for attribute in attributes}


# The version column is 32 bits wide, while filters and page tokens carry 64-bit integers. Typed
# as BIGINT here (no CAST in the SQL), their literals are bound as BIGINT and PostgreSQL compares
# across the widths, instead of failing to narrow an out-of-range literal to INTEGER.
_VERSION = type_coerce(model_versions.c.version, BigInteger)

MODEL_VERSIONS = Entity(
    name="model versions",
    table=model_versions,
    attributes=_attributes(
        Attribute(
            "name",
            ValueKind.STRING,
            registered_models.c.name,
            Lookup(model_versions.c.model_id, _named_models.c.id, _named_models.c.name),
        ),
        Attribute("version_number", ValueKind.INTEGER, _VERSION),
        Attribute("run_id", ValueKind.STRING, model_versions.c.run_id),
        Attribute("source_path", ValueKind.STRING, model_versions.c.source),
        Attribute("current_stage", ValueKind.STAGE, model_versions.c.current_stage),
        Attribute("status", ValueKind.STRING, model_versions.c.status),
        Attribute("user_id", ValueKind.STRING, model_versions.c.user_id),
        Attribute("creation_timestamp", ValueKind.INTEGER, model_versions.c.creation_timestamp),
        Attribute(
            "last_updated_timestamp", ValueKind.INTEGER, model_versions.c.last_updated_timestamp
        ),
        Attribute("alias", ValueKind.ALIAS, None),
    ),
    tag_key=model_version_tags.c.key,
    tag_value=model_version_tags.c.value,
    tag_scope=model_version_tags.c.version_id == model_versions.c.id,
    key=model_versions.c.id,
    tag_owner=model_version_tags.c.version_id,
    alias_name=registered_model_aliases.c.alias,
    alias_scope=and_(
        registered_model_aliases.c.model_id == model_versions.c.model_id,
        registered_model_aliases.c.version == model_versions.c.version,
    ),
    alias_target=(model_versions.c.model_id, model_versions.c.version),
    alias_owner=(registered_model_aliases.c.model_id, registered_model_aliases.c.version),
    sort_columns={
        "name": SortColumn("name", registered_models.c.name, integer=False),
        "version_number": SortColumn("version_number", _VERSION, integer=True),
        "creation_timestamp": SortColumn(
            "creation_timestamp", model_versions.c.creation_timestamp, integer=True
        ),
        "last_updated_timestamp": SortColumn(
            "last_updated_timestamp", model_versions.c.last_updated_timestamp, integer=True
        ),
    },
    sort_synonyms={"timestamp": "creation_timestamp"},
    default_order=(("last_updated_timestamp", True),),
    tie_breaks=(("name", False), ("version_number", True)),
)

REGISTERED_MODELS = Entity(
    name="registered models",
    table=registered_models,
    attributes=_attributes(
        Attribute("name", ValueKind.STRING, registered_models.c.name),
        Attribute("description", ValueKind.STRING, registered_models.c.description),
        Attribute("user_id", ValueKind.STRING, registered_models.c.user_id),
        Attribute("creation_timestamp", ValueKind.INTEGER, registered_models.c.creation_timestamp),
        Attribute(
            "last_updated_timestamp",
            ValueKind.INTEGER,
            registered_models.c.last_updated_timestamp,
        ),
        Attribute("alias", ValueKind.ALIAS, None),
    ),
    tag_key=registered_model_tags.c.key,
    tag_value=registered_model_tags.c.value,
    tag_scope=registered_model_tags.c.model_id == registered_models.c.id,
    key=registered_models.c.id,
    tag_owner=registered_model_tags.c.model_id,
    alias_name=registered_model_aliases.c.alias,
    alias_scope=registered_model_aliases.c.model_id == registered_models.c.id,
    alias_target=(registered_models.c.id,),
    alias_owner=(registered_model_aliases.c.model_id,),
    sort_columns={
        "name": SortColumn("name", registered_models.c.name, integer=False),
        "creation_timestamp": SortColumn(
            "creation_timestamp", registered_models.c.creation_timestamp, integer=True
        ),
        "last_updated_timestamp": SortColumn(
            "last_updated_timestamp", registered_models.c.last_updated_timestamp, integer=True
        ),
    },
    sort_synonyms={"timestamp": "creation_timestamp"},
    default_order=(("name", False),),
    tie_breaks=(("name", False),),
)
