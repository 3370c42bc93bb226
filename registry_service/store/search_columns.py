"""The wiring from the searchable kinds of record to this store's tables: which column each
filter attribute, tag, alias and sort key of SearchModelVersions and SearchRegisteredModels
compiles to (the search package, which knows no tables, compiles against these)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, and_, type_coerce

from registry_service.search import SearchQuery, search_query
from registry_service.search.entities import (
    Attribute,
    Entity,
    Lookup,
    SortColumn,
    ValueKind,
)
from registry_service.store.tables import (
    TAG_VALUE_PREFIX,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    tag_value_prefix,
)

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
    tag_value_prefix=tag_value_prefix,
    tag_value_prefix_length=TAG_VALUE_PREFIX,
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
    tag_value_prefix=tag_value_prefix,
    tag_value_prefix_length=TAG_VALUE_PREFIX,
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


def model_version_search(
    filter: str = "",
    order_by: Sequence[str] = (),
    page_token: str = "",
    page_size: int = 0,
) -> SearchQuery:
    """Query parts for SearchModelVersions over model_versions JOIN registered_models."""
    return search_query(MODEL_VERSIONS, filter, order_by, page_token, page_size)


def registered_model_search(
    filter: str = "",
    order_by: Sequence[str] = (),
    page_token: str = "",
    page_size: int = 0,
) -> SearchQuery:
    """Query parts for SearchRegisteredModels over registered_models."""
    return search_query(REGISTERED_MODELS, filter, order_by, page_token, page_size)
