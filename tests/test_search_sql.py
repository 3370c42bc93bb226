"""Search filters, ordering and paging run against SQLite and PostgreSQL (migrated schemas), as
the store runs them; property tests compare every result with a plain-Python reference."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select

from registry_service.errors import InvalidArgument
from registry_service.search import SearchQuery
from registry_service.store.engine import make_engine
from registry_service.store.search_columns import model_version_search, registered_model_search
from registry_service.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

# -- a registry to search ------------------------------------------------------------------------


@dataclass
class Version:
    version: int
    stage: str = "None"
    run_id: str = "r1"
    source: str = "s3://bucket/path"
    status: str = "READY"
    user_id: str = "u1"
    created: int = 0
    updated: int = 0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Model:
    name: str
    created: int = 0
    updated: int = 0
    user_id: str = "u1"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    # alias -> version number
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[Version] = field(default_factory=list)


def store(engine: Engine, models: Sequence[Model]) -> None:
    """Replace the registry's content with ``models``."""
    with engine.begin() as conn:
        for table in (
            registered_model_aliases,
            model_version_tags,
            registered_model_tags,
            model_versions,
            registered_models,
        ):
            conn.execute(delete(table))
        version_id = 0
        for model_id, model in enumerate(models, start=1):
            conn.execute(
                insert(registered_models).values(
                    id=model_id,
                    name=model.name,
                    creation_timestamp=model.created,
                    last_updated_timestamp=model.updated,
                    user_id=model.user_id,
                    description=model.description,
                    last_version=len(model.versions),
                )
            )
            for key, value in model.tags.items():
                conn.execute(
                    insert(registered_model_tags).values(model_id=model_id, key=key, value=value)
                )
            for version in model.versions:
                version_id += 1
                conn.execute(
                    insert(model_versions).values(
                        id=version_id,
                        model_id=model_id,
                        version=version.version,
                        creation_timestamp=version.created,
                        last_updated_timestamp=version.updated,
                        user_id=version.user_id,
                        current_stage=version.stage,
                        description="",
                        source=version.source,
                        run_id=version.run_id,
                        run_link="",
                        experiment_id="0",
                        status=version.status,
                        status_message="",
                    )
                )
                for key, value in version.tags.items():
                    conn.execute(
                        insert(model_version_tags).values(
                            version_id=version_id, key=key, value=value
                        )
                    )
            for alias, number in model.aliases.items():
                conn.execute(
                    insert(registered_model_aliases).values(
                        model_id=model_id, alias=alias, version=number
                    )
                )


def version_statement(q: SearchQuery) -> Any:
    """The store's SearchModelVersions query."""
    return (
        select(model_versions, registered_models.c.name, *q.sort_columns)
        .select_from(
            model_versions.join(
                registered_models, model_versions.c.model_id == registered_models.c.id
            )
        )
        .where(q.where)
        .order_by(*q.order_by)
        .limit(q.page_size + 1)
    )


def model_statement(q: SearchQuery) -> Any:
    """The store's SearchRegisteredModels query."""
    return (
        select(registered_models, *q.sort_columns)
        .where(q.where)
        .order_by(*q.order_by)
        .limit(q.page_size + 1)
    )


VersionKey = tuple[str, int]
T = TypeVar("T")


def version_pages(
    engine: Engine, filter: str = "", order_by: Sequence[str] = (), page_size: int = 0
) -> list[list[VersionKey]]:
    """Every page of a version search, following next_page_token as the store does."""
    return _pages(
        engine,
        lambda token: model_version_search(filter, list(order_by), token, page_size),
        version_statement,
        lambda row: (row.name, row.version),
    )


def model_pages(
    engine: Engine, filter: str = "", order_by: Sequence[str] = (), page_size: int = 0
) -> list[list[str]]:
    return _pages(
        engine,
        lambda token: registered_model_search(filter, list(order_by), token, page_size),
        model_statement,
        lambda row: row.name,
    )


def _pages(
    engine: Engine,
    search: Callable[[str], SearchQuery],
    statement: Callable[[SearchQuery], Any],
    item: Callable[[Any], T],
) -> list[list[T]]:
    pages: list[list[T]] = []
    token = ""
    with engine.connect() as conn:
        while True:
            q = search(token)
            rows = conn.execute(statement(q)).all()
            kept = rows[: q.page_size]
            pages.append([item(row) for row in kept])
            if len(rows) <= q.page_size:
                return pages
            token = q.next_page_token(kept[-1])
            assert len(pages) < 1000, "paging does not end"


def versions(engine: Engine, filter: str = "", order_by: Sequence[str] = ()) -> list[VersionKey]:
    return [key for page in version_pages(engine, filter, order_by) for key in page]


def models(engine: Engine, filter: str = "", order_by: Sequence[str] = ()) -> list[str]:
    return [name for page in model_pages(engine, filter, order_by) for name in page]


SEED = [
    Model(
        "alpha",
        created=100,
        updated=1000,
        user_id="ann",
        description="First model, for vision",
        tags={"team": "vision", "mlflow.prompt.is_prompt": "false", "my key": "spaced"},
        aliases={"champion": 2, "challenger": 3},
        versions=[
            Version(1, "None", "r1", "s3://a/1", created=110, updated=1110, tags={"env": "dev"}),
            Version(
                2,
                "Production",
                "r2",
                "s3://a/2",
                created=120,
                updated=1120,
                tags={"env": "prod", "k.with.dots": "v"},
            ),
            Version(3, "Staging", "r1", "s3://a/3", created=130, updated=1130, user_id="bob"),
        ],
    ),
    Model(
        "beta",
        created=200,
        updated=900,
        user_id="bob",
        description="text model",
        tags={"team": "nlp"},
        aliases={"champion": 2},
        versions=[
            Version(1, "Archived", "r3", "gs://b/1", created=210, updated=1110, status="FAILED"),
            Version(2, "Production", "r4", "gs://b/2", created=220, updated=1200),
        ],
    ),
    Model(
        "Gamma",
        created=300,
        updated=800,
        tags={"mlflow.prompt.is_prompt": "true"},
        versions=[Version(1, "None", "R1", "s3://g/1", created=310, updated=1110)],
    ),
    Model("delta_model", created=150, updated=1100, description="100% new"),
]


@pytest.fixture
def empty(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty: Engine) -> Engine:
    store(empty, SEED)
    return empty


# -- model version filters -----------------------------------------------------------------------


def keys(text: str) -> list[VersionKey]:
    """ "alpha:1 beta:2" -> [("alpha", 1), ("beta", 2)]."""
    return [(name, int(number)) for name, number in (item.split(":") for item in text.split())]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "alpha:1 alpha:2 alpha:3 beta:1 beta:2 Gamma:1"),
        ("name = 'alpha'", "alpha:1 alpha:2 alpha:3"),
        ("name = 'ALPHA'", ""),
        ("name = 'alpha' AND version_number = 2", "alpha:2"),
        ("name = 'alpha' AND version_number = '2'", "alpha:2"),
        ("version_number > 1 AND name != 'alpha'", "beta:2"),
        ("version_number IN (2, 3)", "alpha:2 alpha:3 beta:2"),
        ("version_number NOT IN (1, 2)", "alpha:3"),
        ("run_id = 'r1'", "alpha:1 alpha:3"),
        ("run_id IN ('r2', 'r3')", "alpha:2 beta:1"),
        ("run_id LIKE 'r%'", "alpha:1 alpha:2 alpha:3 beta:1 beta:2"),
        ("run_id ILIKE 'r1'", "alpha:1 alpha:3 Gamma:1"),
        ("source_path = 's3://a/2'", "alpha:2"),
        ("source_path LIKE 'gs://%'", "beta:1 beta:2"),
        ("name LIKE 'a%'", "alpha:1 alpha:2 alpha:3"),
        ("name LIKE 'g%'", ""),
        ("name ILIKE 'g%'", "Gamma:1"),
        ("name NOT LIKE 'a%'", "beta:1 beta:2 Gamma:1"),
        ("name LIKE '_eta'", "beta:1 beta:2"),
        ("current_stage = 'production'", "alpha:2 beta:2"),
        ("current_stage = 'PRODUCTION'", "alpha:2 beta:2"),
        ("current_stage != 'None'", "alpha:2 alpha:3 beta:1 beta:2"),
        ("current_stage IN ('staging', 'archived')", "alpha:3 beta:1"),
        ("current_stage NOT IN ('none', 'production')", "alpha:3 beta:1"),
        ("status = 'FAILED'", "beta:1"),
        ("user_id = 'bob'", "alpha:3"),
        ("creation_timestamp >= 130 AND creation_timestamp < 220", "alpha:3 beta:1"),
        ("last_updated_timestamp = 1110", "alpha:1 beta:1 Gamma:1"),
        ("creation_timestamp <= '110'", "alpha:1"),
        ("tag.env = 'prod'", "alpha:2"),
        ("tags.env LIKE '%d%'", "alpha:1 alpha:2"),
        ("tags.`k.with.dots` = 'v'", "alpha:2"),
        ("tag.env != 'prod'", "alpha:1 alpha:3 beta:1 beta:2 Gamma:1"),
        ("tag.env NOT IN ('prod', 'dev')", "alpha:3 beta:1 beta:2 Gamma:1"),
        ("tag.env IN ('prod', 'dev')", "alpha:1 alpha:2"),
        ("tag.env > 'e'", "alpha:2"),
        ("tag.missing = 'x'", ""),
        ("tag.ENV = 'prod'", ""),
        ("alias = 'champion'", "alpha:2 beta:2"),
        ("alias IN ('challenger')", "alpha:3"),
        ("alias LIKE 'ch%'", "alpha:2 alpha:3 beta:2"),
        ("alias != 'champion'", "alpha:1 alpha:3 beta:1 Gamma:1"),
        ("name = 'alpha' OR name = 'Gamma'", "alpha:1 alpha:2 alpha:3 Gamma:1"),
        ("NOT name = 'alpha'", "beta:1 beta:2 Gamma:1"),
        ("NOT (name = 'alpha' OR version_number = 1)", "beta:2"),
        ("(name = 'alpha' OR name = 'beta') AND version_number = 1", "alpha:1 beta:1"),
        (
            "name = 'alpha' OR name = 'beta' AND version_number = 1",
            "alpha:1 alpha:2 alpha:3 beta:1",
        ),
        ("name = 'alpha' AND NOT tag.env = 'dev'", "alpha:2 alpha:3"),
    ],
)
def test_version_filters(engine: Engine, text: str, expected: str) -> None:
    assert set(versions(engine, text)) == set(keys(expected))


# -- registered model filters --------------------------------------------------------------------


ALL_MODELS = {"alpha", "beta", "Gamma", "delta_model"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ALL_MODELS),
        ("name = 'beta'", {"beta"}),
        ("name LIKE '%a'", {"alpha", "beta", "Gamma"}),
        ("name LIKE 'g%'", set()),
        ("name LIKE 'G%'", {"Gamma"}),
        ("name ILIKE '%A'", {"alpha", "beta", "Gamma"}),
        ("name ILIKE '%MODEL%'", {"delta_model"}),
        ("name LIKE 'delta\\_%'", {"delta_model"}),
        ("description LIKE '100\\%%'", {"delta_model"}),
        ("description ILIKE '%VISION%'", {"alpha"}),
        ("user_id = 'bob'", {"beta"}),
        ("creation_timestamp > 150", {"beta", "Gamma"}),
        ("last_updated_timestamp <= 900", {"beta", "Gamma"}),
        ("tag.team = 'vision'", {"alpha"}),
        ("tags.`my key` = 'spaced'", {"alpha"}),
        ("tag.\"my key\" LIKE 'sp%'", {"alpha"}),
        ("tags.team != 'vision'", {"beta", "Gamma", "delta_model"}),
        ("tags.team NOT IN ('vision', 'nlp')", {"Gamma", "delta_model"}),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", {"Gamma"}),
        ("tag.`mlflow.prompt.is_prompt` != 'true'", {"alpha", "beta", "delta_model"}),
        (
            "name ILIKE '%a%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
            {"alpha", "beta", "delta_model"},
        ),
        ("alias = 'champion'", {"alpha", "beta"}),
        ("alias = 'challenger'", {"alpha"}),
        ("alias != 'challenger'", {"beta", "Gamma", "delta_model"}),
        ("NOT alias LIKE '%'", {"Gamma", "delta_model"}),
        ("name = 'alpha' OR tag.team = 'nlp'", {"alpha", "beta"}),
        ("NOT (name = 'alpha' OR tag.team = 'nlp')", {"Gamma", "delta_model"}),
    ],
)
def test_model_filters(engine: Engine, text: str, expected: set[str]) -> None:
    assert set(models(engine, text)) == expected


def test_filter_values_are_bound_not_spliced(engine: Engine) -> None:
    assert models(engine, "name = 'x'' OR ''1''=''1'") == []
    assert models(engine, "name = 'alpha''; DROP TABLE registered_models; --'") == []
    assert len(models(engine)) == 4


# -- ordering ------------------------------------------------------------------------------------


def test_default_version_order_is_last_updated_desc_then_name_then_version_desc(
    engine: Engine,
) -> None:
    assert versions(engine) == [
        ("beta", 2),  # 1200
        ("alpha", 3),  # 1130
        ("alpha", 2),  # 1120
        ("Gamma", 1),  # 1110, name ASC: "G" < "a" < "b"
        ("alpha", 1),
        ("beta", 1),
    ]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["name ASC"], "Gamma:1 alpha:3 alpha:2 alpha:1 beta:2 beta:1"),
        (["name DESC"], "beta:2 beta:1 alpha:3 alpha:2 alpha:1 Gamma:1"),
        (["name", "version_number ASC"], "Gamma:1 alpha:1 alpha:2 alpha:3 beta:1 beta:2"),
        (["version_number desc", "name desc"], "alpha:3 beta:2 alpha:2 beta:1 alpha:1 Gamma:1"),
        (["timestamp DESC"], "Gamma:1 beta:2 beta:1 alpha:3 alpha:2 alpha:1"),
        (["creation_timestamp"], "alpha:1 alpha:2 alpha:3 beta:1 beta:2 Gamma:1"),
        (
            ["attributes.last_updated_timestamp ASC"],
            "Gamma:1 alpha:1 beta:1 alpha:2 alpha:3 beta:2",
        ),
        (
            ["LAST_UPDATED_TIMESTAMP asc", "version_number"],
            "Gamma:1 alpha:1 beta:1 alpha:2 alpha:3 beta:2",
        ),
    ],
)
def test_version_order_by(engine: Engine, order_by: list[str], expected: str) -> None:
    assert versions(engine, order_by=order_by) == keys(expected)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], ["Gamma", "alpha", "beta", "delta_model"]),
        (["name DESC"], ["delta_model", "beta", "alpha", "Gamma"]),
        (["timestamp"], ["alpha", "delta_model", "beta", "Gamma"]),
        (["creation_timestamp DESC"], ["Gamma", "beta", "delta_model", "alpha"]),
        (["last_updated_timestamp DESC"], ["delta_model", "alpha", "beta", "Gamma"]),
        (["last_updated_timestamp", "name desc"], ["Gamma", "beta", "alpha", "delta_model"]),
    ],
)
def test_model_order_by(engine: Engine, order_by: list[str], expected: list[str]) -> None:
    assert models(engine, order_by=order_by) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["colour"], "order_by key 'colour' is unknown"),
        (["run_id ASC"], "order_by key 'run_id' is unknown"),
        (["name UP"], "order_by direction 'UP' is not ASC or DESC"),
        (["name ASC DESC"], "must be '<key>' or '<key> ASC|DESC'"),
        ([""], "must be '<key>' or '<key> ASC|DESC'"),
        (["name", "NAME DESC"], "order_by lists name more than once"),
        (["timestamp", "creation_timestamp"], "creation_timestamp more than once"),
        (["name"] * 11, "order_by has 11 entries; the maximum is 10"),
    ],
)
def test_bad_order_by(order_by: list[str], expected: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        model_version_search(order_by=order_by)
    assert caught.value.field == "order_by"
    assert expected in caught.value.message


def test_bad_order_by_lists_valid_keys() -> None:
    with pytest.raises(InvalidArgument) as caught:
        model_version_search(order_by=["colour"])
    assert (
        "name, version_number, creation_timestamp (or timestamp), last_updated_timestamp"
        in caught.value.message
    )
    with pytest.raises(InvalidArgument) as caught:
        registered_model_search(order_by=["version_number"])
    assert "name, creation_timestamp (or timestamp), last_updated_timestamp" in caught.value.message


# -- paging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 6, 7, 1000, 5000])
@pytest.mark.parametrize(
    "order_by",
    [[], ["name ASC"], ["version_number DESC", "name ASC"], ["timestamp", "name DESC"]],
)
def test_paging_visits_every_row_once_in_order(
    engine: Engine, page_size: int, order_by: list[str]
) -> None:
    everything = versions(engine, order_by=order_by)
    pages = version_pages(engine, order_by=order_by, page_size=page_size)
    assert [key for page in pages for key in page] == everything
    effective = min(page_size, 1000)
    assert all(len(page) == effective for page in pages[:-1])
    assert 0 < len(pages[-1]) <= effective


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_model_paging_with_filter(engine: Engine, page_size: int) -> None:
    text = "tag.`mlflow.prompt.is_prompt` != 'true'"
    pages = model_pages(engine, text, ["last_updated_timestamp DESC"], page_size)
    assert [name for page in pages for name in page] == ["delta_model", "alpha", "beta"]


def test_page_sizes() -> None:
    assert model_version_search().page_size == 100
    assert model_version_search(page_size=0).page_size == 100
    assert model_version_search(page_size=7).page_size == 7
    assert registered_model_search(page_size=1000).page_size == 1000
    assert registered_model_search(page_size=1001).page_size == 1000
    with pytest.raises(InvalidArgument) as caught:
        model_version_search(page_size=-1)
    assert caught.value.field == "page_size"


def first_page_token(engine: Engine, filter: str = "", order_by: Sequence[str] = ()) -> str:
    q = model_version_search(filter, list(order_by), "", 1)
    with engine.connect() as conn:
        rows = conn.execute(version_statement(q)).all()
    return q.next_page_token(rows[0])


@pytest.mark.parametrize(
    ("filter", "order_by"),
    [
        ("name = 'beta'", ["name"]),
        ("", ["name DESC"]),
        ("", ["name", "version_number DESC", "last_updated_timestamp"]),
    ],
)
def test_token_for_another_search_is_refused(
    engine: Engine, filter: str, order_by: list[str]
) -> None:
    token = first_page_token(engine, "", ["name"])
    with pytest.raises(InvalidArgument) as caught:
        model_version_search(filter, order_by, token)
    assert caught.value.field == "page_token"
    assert "different filter or order_by" in caught.value.message


def test_token_survives_respelling_of_the_same_search(engine: Engine) -> None:
    token = first_page_token(engine, "name='alpha' and tag.env!='x'", ["name"])
    model_version_search("  NAME = \"alpha\"  AND  tags.`env` <> 'x'", ["name asc"], token)


def test_version_token_is_refused_by_model_search(engine: Engine) -> None:
    token = first_page_token(engine, "", ["name"])
    with pytest.raises(InvalidArgument) as caught:
        registered_model_search("", ["name"], token)
    assert caught.value.field == "page_token"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!!",
        "a",
        "eyJmIjoxfQ",  # {"f":1}
        "W10",  # []
        "bnVsbA",  # null
        "x" * 10_000,
        "////",
        "\x00",
        "WwoKCgpb" * 50,
        # nested arrays far beyond the JSON decoder's recursion limit
        base64.urlsafe_b64encode(b"[" * 6000).decode().rstrip("="),
    ],
)
def test_garbage_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        model_version_search(page_token=token)
    assert caught.value.field == "page_token"
    assert "not a token this service issued" in caught.value.message


def test_tampered_token_values_are_refused(engine: Engine) -> None:
    token = first_page_token(engine, "", ["name"])
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for values in ([1, 2], ["a", "b"], ["a"], ["a", 2, 3], ["a\x00", 2], ["a", True], ["a", 2**70]):
        forged = json.dumps({"f": data["f"], "k": values}).encode()
        forged_token = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        with pytest.raises(InvalidArgument) as caught:
            model_version_search("", ["name"], forged_token)
        assert caught.value.field == "page_token"


# -- property: SQL agrees with a plain-Python reference --------------------------------------------

NAMES = ["a", "b", "ab", "Ab", "ba", "b_a"]
STRINGS = ["a", "A", "b", "ab", "Ab", "ba", "b_a", "r1", "R1", "r2", "v", "V", "w", "", "s3://a"]
SOURCES = ["s3://a", "s3://b", "S3://a"]
STATUSES = ["READY", "FAILED_REGISTRATION", "PENDING_REGISTRATION"]
# Values longer than the indexed prefix that share it: only the full comparison tells them apart.
LONG = "x" * 200
PATTERNS = ["a%", "%a", "%b%", "_", "__", "A%", "%", "r_", "b\\_a", "%\\%", "x%", "%xb"]
TAG_KEYS = ["k", "K", "x.y"]
TAG_VALUES = ["v", "V", "w", "vw", "%", LONG, LONG + "a", LONG + "b", "x" * 199]
ALIASES = ["champ", "Champ", "prod"]
STAGES = ["None", "Staging", "Production", "Archived"]


@st.composite
def registries(draw: st.DrawFn) -> list[Model]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    small = st.integers(0, 4)
    tags = st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), max_size=2)
    result = []
    for name in names:
        count = draw(st.integers(0, 3))
        versions = [
            Version(
                number,
                stage=draw(st.sampled_from(STAGES)),
                run_id=draw(st.sampled_from(["r1", "R1", "r2"])),
                source=draw(st.sampled_from(SOURCES)),
                status=draw(st.sampled_from(STATUSES)),
                user_id=draw(st.sampled_from(["u", "U", "w"])),
                created=draw(small),
                updated=draw(small),
                tags=draw(tags),
            )
            for number in range(1, count + 1)
        ]
        aliases = (
            draw(st.dictionaries(st.sampled_from(ALIASES), st.integers(1, count), max_size=2))
            if count
            else {}
        )
        result.append(
            Model(
                name,
                created=draw(small),
                updated=draw(small),
                user_id=draw(st.sampled_from(["u", "U", "w"])),
                description=draw(st.sampled_from(STRINGS)),
                tags=draw(tags),
                aliases=aliases,
                versions=versions,
            )
        )
    return result


@dataclass(frozen=True)
class Cond:
    target: str  # an attribute, "tag:<key>" or "alias"
    op: str
    values: tuple[str | int, ...]


Expr = Cond | tuple[str, Any, Any]

STRING_OPS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "NOT LIKE", "IN", "NOT IN"]
INTEGER_OPS = ["=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"]
STAGE_OPS = ["=", "!=", "IN", "NOT IN"]


def conditions(targets: dict[str, str]) -> st.SearchStrategy[Cond]:
    @st.composite
    def build(draw: st.DrawFn) -> Cond:
        target = draw(st.sampled_from(sorted(targets)))
        kind = targets[target]
        ops = {"integer": INTEGER_OPS, "stage": STAGE_OPS}.get(kind, STRING_OPS)
        op = draw(st.sampled_from(ops))
        if kind == "integer":
            pool: st.SearchStrategy[str | int] = st.integers(-1, 5)
        elif kind == "stage":
            pool = st.sampled_from([*STAGES, "production", "NONE", "staging"])
        elif "LIKE" in op:
            pool = st.sampled_from(PATTERNS)
        elif kind == "tag":
            pool = st.sampled_from(TAG_VALUES)
        elif kind == "alias":
            pool = st.sampled_from(ALIASES)
        elif kind == "status":
            pool = st.sampled_from([*STATUSES, "READ"])
        else:
            pool = st.sampled_from(STRINGS)
        count = draw(st.integers(1, 3)) if "IN" in op.split() else 1
        return Cond(target, op, tuple(draw(pool) for _ in range(count)))

    return build()


def expressions(targets: dict[str, str]) -> st.SearchStrategy[Expr]:
    leaf = conditions(targets)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["AND", "OR"]), inner, inner),
            st.tuples(st.just("NOT"), inner, st.none()),
        ),
        max_leaves=4,
    )


VERSION_TARGETS = {
    "name": "string",
    "run_id": "string",
    "user_id": "string",
    "source_path": "string",
    "status": "status",
    "version_number": "integer",
    "creation_timestamp": "integer",
    "last_updated_timestamp": "integer",
    "current_stage": "stage",
    "alias": "alias",
    **{f"tag:{key}": "tag" for key in TAG_KEYS},
}
MODEL_TARGETS = {
    "name": "string",
    "description": "string",
    "user_id": "string",
    "creation_timestamp": "integer",
    "last_updated_timestamp": "integer",
    "alias": "alias",
    **{f"tag:{key}": "tag" for key in TAG_KEYS},
}


def render(expr: Expr) -> str:
    if isinstance(expr, Cond):
        if expr.target.startswith("tag:"):
            key = expr.target[4:]
            target = f"tags.`{key}`" if "." in key else f"tag.{key}"
        else:
            target = expr.target
        values = [
            str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'" for v in expr.values
        ]
        if "IN" in expr.op.split():
            return f"{target} {expr.op} ({', '.join(values)})"
        return f"{target} {expr.op} {values[0]}"
    op, left, right = expr
    if op == "NOT":
        return f"NOT ({render(left)})"
    return f"({render(left)}) {op} ({render(right)})"


def like(value: str, pattern: str, insensitive: bool) -> bool:
    regex = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            regex += re.escape(pattern[index + 1])
            index += 2
            continue
        regex += ".*" if char == "%" else "." if char == "_" else re.escape(char)
        index += 1
    flags = re.DOTALL | (re.IGNORECASE if insensitive else 0)
    return re.fullmatch(regex, value, flags) is not None


def compare(actual: str | int, op: str, values: tuple[str | int, ...]) -> bool:
    value = values[0]
    match op:
        case "=":
            return actual == value
        case "!=":
            return actual != value
        case "<":
            return actual < value  # type: ignore[operator]
        case "<=":
            return actual <= value  # type: ignore[operator]
        case ">":
            return actual > value  # type: ignore[operator]
        case ">=":
            return actual >= value  # type: ignore[operator]
        case "LIKE" | "ILIKE":
            return like(str(actual), str(value), op == "ILIKE")
        case "NOT LIKE":
            return not like(str(actual), str(value), False)
        case "IN":
            return actual in values
        case "NOT IN":
            return actual not in values
    raise AssertionError(op)


NEGATIVE = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE"}


def related(candidates: list[str], op: str, values: tuple[str | int, ...]) -> bool:
    """MLflow's semantics for tags and aliases: negations hold when nothing matches."""
    if op in NEGATIVE:
        return not related(candidates, NEGATIVE[op], values)
    return any(compare(candidate, op, values) for candidate in candidates)


def evaluate(expr: Expr, record: dict[str, Any]) -> bool:
    if isinstance(expr, Cond):
        values = expr.values
        if expr.target.startswith("tag:"):
            tags: dict[str, str] = record["tags"]
            key = expr.target[4:]
            return related([tags[key]] if key in tags else [], expr.op, values)
        if expr.target == "alias":
            return related(record["aliases"], expr.op, values)
        if expr.target == "current_stage":
            values = tuple(str(v).capitalize() for v in values)
        elif isinstance(record[expr.target], str):
            values = tuple(str(v) for v in values)
        return compare(record[expr.target], expr.op, values)
    op, left, right = expr
    if op == "NOT":
        return not evaluate(left, record)
    if op == "AND":
        return evaluate(left, record) and evaluate(right, record)
    return evaluate(left, record) or evaluate(right, record)


def version_records(registry: list[Model]) -> list[dict[str, Any]]:
    return [
        {
            "key": (model.name, version.version),
            "name": model.name,
            "run_id": version.run_id,
            "user_id": version.user_id,
            "source_path": version.source,
            "status": version.status,
            "version_number": version.version,
            "creation_timestamp": version.created,
            "last_updated_timestamp": version.updated,
            "current_stage": version.stage,
            "tags": version.tags,
            "aliases": [a for a, n in model.aliases.items() if n == version.version],
        }
        for model in registry
        for version in model.versions
    ]


def model_records(registry: list[Model]) -> list[dict[str, Any]]:
    return [
        {
            "key": model.name,
            "name": model.name,
            "description": model.description,
            "user_id": model.user_id,
            "creation_timestamp": model.created,
            "last_updated_timestamp": model.updated,
            "tags": model.tags,
            "aliases": list(model.aliases),
        }
        for model in registry
    ]


def reference_order(records: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[Any]:
    ordered = list(records)
    # Stable sorts from the last key to the first give a lexicographic mixed-direction order.
    for name, descending in reversed(keys):
        ordered.sort(key=lambda record: record[name], reverse=descending)
    return [record["key"] for record in ordered]


@pytest.fixture
def scratch(empty: Engine) -> Engine:
    """One database per backend for all examples of a property; each example replaces its
    content (hence the function_scoped_fixture health check is suppressed below)."""
    return empty


_PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@_PROPERTY
@given(registries(), expressions(VERSION_TARGETS))
def test_version_filters_match_reference(
    scratch: Engine, registry: list[Model], expr: Expr
) -> None:
    store(scratch, registry)
    text = render(expr)
    expected = {r["key"] for r in version_records(registry) if evaluate(expr, r)}
    assert set(versions(scratch, text)) == expected, text


@_PROPERTY
@given(registries(), expressions(MODEL_TARGETS))
def test_model_filters_match_reference(scratch: Engine, registry: list[Model], expr: Expr) -> None:
    store(scratch, registry)
    text = render(expr)
    expected = {r["key"] for r in model_records(registry) if evaluate(expr, r)}
    assert set(models(scratch, text)) == expected, text


VERSION_SORT = {
    "name": "name",
    "version_number": "version_number",
    "timestamp": "creation_timestamp",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}


@_PROPERTY
@given(
    registries(),
    st.lists(st.tuples(st.sampled_from(sorted(VERSION_SORT)), st.booleans()), max_size=3),
    st.integers(1, 4),
)
def test_version_paging_matches_reference(
    scratch: Engine, registry: list[Model], entries: list[tuple[str, bool]], page_size: int
) -> None:
    keys: list[tuple[str, bool]] = []
    for name, descending in entries:
        if VERSION_SORT[name] not in [key for key, _ in keys]:
            keys.append((VERSION_SORT[name], descending))
    order_by = [f"{name} {'DESC' if descending else 'ASC'}" for name, descending in keys]
    total = keys or [("last_updated_timestamp", True)]
    for tie in (("name", False), ("version_number", True)):
        if tie[0] not in [key for key, _ in total]:
            total = [*total, tie]
    store(scratch, registry)
    pages = version_pages(scratch, order_by=order_by, page_size=page_size)
    assert all(len(page) == page_size for page in pages[:-1])
    expected = reference_order(version_records(registry), total)
    assert [key for page in pages for key in page] == expected


@_PROPERTY
@given(
    registries(),
    st.permutations(["name", "creation_timestamp", "last_updated_timestamp"]),
    st.integers(0, 3),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.integers(1, 3),
)
def test_model_paging_matches_reference(
    scratch: Engine,
    registry: list[Model],
    names: list[str],
    count: int,
    directions: list[bool],
    page_size: int,
) -> None:
    keys = list(zip(names[:count], directions, strict=False))
    order_by = [f"{k} {'DESC' if d else 'ASC'}" for k, d in keys]
    total = keys or [("name", False)]
    if "name" not in names[:count]:
        total = [*total, ("name", False)]
    store(scratch, registry)
    pages = model_pages(scratch, order_by=order_by, page_size=page_size)
    expected = reference_order(model_records(registry), total)
    assert [name for page in pages for name in page] == expected
