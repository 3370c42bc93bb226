"""MLflow's own server as the oracle: one list of MlflowClient calls (every registry method with
valid and invalid arguments, searches over filters, orders and page sizes, and a seeded random
sequence) replayed on a real `mlflow server` and on this registry's HTTP gateway, answer for
answer. Every difference must be listed in docs/mlflow-compat.md, and every difference listed
there must still occur, so that the table stays true."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList

from registry_service.gateway.errors import error_response
from registry_service.server import RunningServer
from registry_service.store.model_access import model_not_found

from .processes import ROOT, mlflow_serving

COMPAT_DOC = ROOT / "docs" / "mlflow-compat.md"
# Words scripts match on in MLflow's error messages; ours should hold the same ones, at least
# for the errors of MISSING_OR_TAKEN.
MESSAGE_WORDS = ("not found", "does not exist", "already exists", "missing value", "invalid")
MISSING_OR_TAKEN = ("RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS")
SEED = 20240607
# More pages than any search here has at its smallest page size.
MAX_PAGES = 30
RANDOM_CALLS = 300
POOL = ("m-a", "m-b", "m-c", "m-d")
ALIASES = ("champion", "challenger")
TAG_KEYS = ("team", "owner")
STAGES = ("None", "Staging", "Production", "Archived", "production", "Shipped")
SEARCHES = ("search_registered_models", "search_model_versions")

# Stages are deprecated in MLflow 3, and still part of both registries.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@dataclass
class Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __str__(self) -> str:
        words = [repr(arg) for arg in self.args]
        words += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"{self.method}({', '.join(words)})"


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    return Call(method, args, kwargs)


def search(method: str, filter_string: str, max_results: int, order_by: list[str]) -> Call:
    return call(method, filter_string=filter_string, max_results=max_results, order_by=order_by)


@dataclass(frozen=True)
class Answer:
    """A call's result, normalized, or the error_code and message it failed with."""

    result: Any = None
    error_code: str | None = None
    message: str = ""

    @property
    def kind(self) -> str:
        """How the compatibility table names the answer: an error code, or `result`."""
        return self.error_code or "result"

    def agrees_with(self, other: Answer) -> bool:
        return (self.error_code, self.result) == (other.error_code, other.result)


@dataclass(frozen=True)
class Compared:
    """One call and the answers of both servers."""

    call: Call
    mlflow: Answer
    ours: Answer

    @property
    def key(self) -> tuple[str, str, str]:
        """(method, MLflow's answer, ours): how docs/mlflow-compat.md names the difference."""
        if self.mlflow.error_code is None and self.ours.error_code is None:
            return (
                self.call.method,
                "result",
                result_difference(self.mlflow.result, self.ours.result),
            )
        return (self.call.method, self.mlflow.kind, self.ours.kind)


# -- the calls -------------------------------------------------------------------------------


def every_call() -> list[Call]:
    """Each registry method of MlflowClient, with valid and invalid arguments."""
    m = "fraud"
    return [
        call("create_registered_model", m, tags={"team": "risk"}, description="flags fraud"),
        call("create_registered_model", m),
        call("create_registered_model", ""),
        call("create_registered_model", "with/slash"),
        call("create_registered_model", "churn", tags={"": "empty key"}),
        call("create_registered_model", "churn"),
        call("get_model_version_by_alias", "churn", "latest"),
        call("get_registered_model", m),
        call("get_registered_model", "nope"),
        call("get_registered_model", ""),
        call("update_registered_model", m, description="flags card fraud"),
        call("update_registered_model", m, description=""),
        call("update_registered_model", "nope", description="x"),
        call("update_registered_model", "", description="x"),
        call("set_registered_model_tag", m, "owner", "ana"),
        call("set_registered_model_tag", m, "owner", ""),
        call("set_registered_model_tag", m, "", "x"),
        call("set_registered_model_tag", "nope", "owner", "ana"),
        call("delete_registered_model_tag", m, "owner"),
        call("delete_registered_model_tag", m, "owner"),
        call("delete_registered_model_tag", m, ""),
        call("delete_registered_model_tag", "nope", "team"),
        call("get_registered_model", m),
        call("create_model_version", m, "s3://bucket/fraud/1", tags={"auc": "0.9"}),
        call("create_model_version", m, "s3://bucket/fraud/2", run_id="run-1", description="2nd"),
        call("create_model_version", m, "s3://bucket/fraud/3"),
        call("create_model_version", "nope", "s3://bucket/nope/1"),
        call("create_model_version", "", "s3://bucket/x/1"),
        call("create_model_version", m, ""),
        call("create_model_version", m, "s3://bucket/fraud/4", tags={"": "x"}),
        call("get_model_version", m, "1"),
        call("get_model_version", m, 2),
        call("get_model_version", m, "9"),
        call("get_model_version", m, "0"),
        call("get_model_version", m, "-1"),
        call("get_model_version", m, "abc"),
        call("get_model_version", m, ""),
        call("get_model_version", m, "1.5"),
        call("get_model_version", m, "99999999999"),
        call("get_model_version", "nope", "1"),
        call("get_model_version", "", "1"),
        call("update_model_version", m, "1", description="baseline"),
        call("update_model_version", m, "9", description="x"),
        call("update_model_version", m, "0", description="x"),
        call("update_model_version", m, "abc", description="x"),
        call("update_model_version", "nope", "1", description="x"),
        call("set_model_version_tag", m, "1", "validated", "true"),
        call("set_model_version_tag", m, "1", "", "x"),
        call("set_model_version_tag", m, "9", "k", "v"),
        call("set_model_version_tag", m, "-1", "k", "v"),
        call("set_model_version_tag", "nope", "1", "k", "v"),
        call("delete_model_version_tag", m, "1", "validated"),
        call("delete_model_version_tag", m, "1", "validated"),
        call("delete_model_version_tag", m, "9", "k"),
        call("delete_model_version_tag", m, "abc", "k"),
        call("transition_model_version_stage", m, "1", "Staging"),
        call("transition_model_version_stage", m, "2", "production"),
        call(
            "transition_model_version_stage", m, "3", "Production", archive_existing_versions=True
        ),
        call("transition_model_version_stage", m, "1", "Shipped"),
        call("transition_model_version_stage", m, "1", ""),
        call("transition_model_version_stage", m, "9", "Staging"),
        call("transition_model_version_stage", m, "0", "Staging"),
        call("transition_model_version_stage", "nope", "1", "Staging"),
        call("get_latest_versions", m),
        call("get_latest_versions", m, stages=["Production"]),
        call("get_latest_versions", m, stages=["production", "Archived"]),
        call("get_latest_versions", m, stages=["None"]),
        call("get_latest_versions", m, stages=["Shipped"]),
        call("get_latest_versions", m, stages=[]),
        call("get_latest_versions", "nope"),
        call("get_latest_versions", ""),
        call("set_registered_model_alias", m, "champion", "1"),
        call("set_registered_model_alias", m, "champion", 3),
        call("set_registered_model_alias", m, "challenger", "2"),
        call("set_registered_model_alias", m, "champion", "9"),
        call("set_registered_model_alias", m, "champion", "0"),
        call("set_registered_model_alias", m, "champion", "abc"),
        call("set_registered_model_alias", m, "", "1"),
        call("set_registered_model_alias", m, "latest", "1"),
        call("set_registered_model_alias", m, "v1", "1"),
        call("set_registered_model_alias", m, "with space", "1"),
        call("set_registered_model_alias", "nope", "champion", "1"),
        call("get_model_version_by_alias", m, "champion"),
        call("get_model_version_by_alias", m, "missing"),
        call("get_model_version_by_alias", m, ""),
        call("get_model_version_by_alias", m, "latest"),
        call("get_model_version_by_alias", m, "v2"),
        call("get_model_version_by_alias", "nope", "champion"),
        call("get_registered_model", m),
        call("get_model_version", m, "3"),
        call("delete_registered_model_alias", m, "challenger"),
        call("delete_registered_model_alias", m, "challenger"),
        call("delete_registered_model_alias", m, ""),
        call("delete_registered_model_alias", "nope", "champion"),
        call("get_model_version_download_uri", m, "1"),
        call("get_model_version_download_uri", m, "9"),
        call("get_model_version_download_uri", m, "-1"),
        call("get_model_version_download_uri", "nope", "1"),
        call("copy_model_version", f"models:/{m}/1", "fraud-copy"),
        call("copy_model_version", f"models:/{m}@champion", "fraud-copy"),
        call("copy_model_version", f"models:/{m}/9", "fraud-copy"),
        call("copy_model_version", "s3://bucket/fraud/1", "fraud-copy"),
        call("get_model_version_download_uri", "fraud-copy", "1"),
        call("create_model_version", "churn", "runs:/0123456789abcdef/model", run_id="r"),
        call("create_model_version", "churn", f"models:/{m}/1"),
        call("delete_model_version", m, "2"),
        call("delete_model_version", m, "2"),
        call("delete_model_version", m, "0"),
        call("delete_model_version", m, "abc"),
        call("delete_model_version", "nope", "1"),
        call("get_model_version", m, "2"),
        call("get_latest_versions", m),
        call("create_model_version", m, "s3://bucket/fraud/5"),
        call("rename_registered_model", m, "fraud-detector"),
        call("rename_registered_model", "fraud-detector", "churn"),
        call("rename_registered_model", "fraud-detector", ""),
        call("rename_registered_model", "fraud-detector", "fraud-detector"),
        call("rename_registered_model", "nope", "other"),
        call("rename_registered_model", "", "other"),
        call("get_registered_model", m),
        call("get_registered_model", "fraud-detector"),
        call("get_model_version", "fraud-detector", "4"),
        # Whether a rename counts as an update of the model's versions.
        call(
            "search_model_versions",
            filter_string="name = 'fraud-detector'",
            order_by=["last_updated_timestamp"],
        ),
        call("get_model_version_by_alias", "fraud-detector", "champion"),
        call("delete_registered_model", "fraud-detector"),
        call("delete_registered_model", "fraud-detector"),
        call("delete_registered_model", ""),
        call("get_model_version", "fraud-detector", "1"),
        call("search_registered_models", max_results=1000),
        call("search_registered_models", max_results=1001),
        call("search_registered_models", max_results=0),
        call("search_registered_models", max_results=-1),
        call("search_registered_models", max_results=10**9),
        call("search_model_versions", max_results=200_000),
        call("search_model_versions", max_results=200_001),
        call("search_model_versions", max_results=0),
        call("search_model_versions", max_results=-1),
        call("search_registered_models", page_token="not-a-token"),
        call("search_model_versions", page_token="not-a-token"),
    ]


def search_seed() -> list[Call]:
    """Five models (one named with a quote) and their versions, for the searches to find."""
    calls = [
        call("create_registered_model", "fraud", tags={"team": "risk", "pii": "no"}),
        call("create_registered_model", "churn", tags={"team": "growth"}),
        call("create_registered_model", "Fraud-EU", tags={"team": "risk"}),
        call("create_registered_model", "recsys-a", tags={"team": "recs"}),
        call("create_registered_model", "it's-quoted"),
    ]
    for number in range(1, 6):
        run_id = "run-a" if number % 2 else "run-b"
        tags = {"n": str(number), "auc": "0.9" if number < 3 else "0.95"}
        source = f"s3://models/fraud/{number}"
        calls.append(call("create_model_version", "fraud", source, run_id=run_id, tags=tags))
    for name in ("churn", "Fraud-EU", "recsys-a", "recsys-a", "it's-quoted"):
        calls.append(call("create_model_version", name, f"s3://models/{name}/x", run_id="run-c"))
    calls += [
        call("delete_model_version", "fraud", "3"),
        call("transition_model_version_stage", "fraud", "2", "Production"),
        call("transition_model_version_stage", "fraud", "4", "Staging"),
        call("set_registered_model_alias", "fraud", "champion", "2"),
        call("set_model_version_tag", "churn", "1", "auc", "0.8"),
        call("update_registered_model", "churn", description="who leaves"),
        call("set_registered_model_tag", "recsys-a", "team", "recs-2"),
        call("update_model_version", "fraud", "1", description="baseline"),
        # Changes that move (or leave) last_updated_timestamp, for the orders by it.
        call(
            "transition_model_version_stage",
            "fraud",
            "5",
            "Staging",
            archive_existing_versions=True,
        ),
        call("set_model_version_tag", "fraud", "2", "checked", "yes"),
        call("delete_model_version_tag", "fraud", "1", "n"),
        call("set_registered_model_alias", "recsys-a", "champion", "1"),
        call("update_model_version", "recsys-a", "1", description="first"),
        call("delete_registered_model_tag", "Fraud-EU", "team"),
    ]
    return calls


MODEL_FILTERS = (
    None,
    "name = 'fraud'",
    "name != 'fraud'",
    "name LIKE 'recsys-%'",
    "name LIKE 'f%'",
    "name ILIKE 'f%'",
    "name ILIKE '%EU'",
    "name LIKE '%'",
    'name = "it\'s-quoted"',
    "name IN ('fraud', 'churn')",
    "tags.team = 'risk'",
    "tag.team = 'risk'",
    "tags.`team` = 'recs-2'",
    "tags.team != 'risk'",
    "tags.team LIKE 'r%'",
    "tags.team ILIKE 'RISK'",
    "tags.pii = 'no' AND name = 'fraud'",
    "name = 'nope'",
    "tags.missing = 'x'",
    "name = fraud",
    "nme = 'fraud'",
    "name",
    "name == 'fraud'",
    "name = 'fraud' OR name = 'churn'",
    "name = 'fraud' AND",
    "creation_timestamp > 0",
    "description = 'who leaves'",
    "run_id = 'run-a'",
    "name LIKE 'f%' AND tags.team = 'risk'",
)
MODEL_ORDERS: tuple[list[str] | None, ...] = (
    None,
    ["name"],
    ["name ASC"],
    ["name DESC"],
    ["timestamp"],
    ["timestamp DESC"],
    ["last_updated_timestamp"],
    ["last_updated_timestamp DESC"],
    ["creation_timestamp"],
    ["creation_timestamp DESC"],
    ["timestamp DESC", "name ASC"],
    ["name DESC", "name ASC"],
    ["foo"],
    ["name SIDEWAYS"],
    ["attribute.name DESC"],
    ["tags.team"],
    ["version_number"],
)
VERSION_FILTERS = (
    None,
    "name = 'fraud'",
    "name != 'fraud'",
    "name LIKE 'recsys%'",
    "name ILIKE 'FRAUD%'",
    "name IN ('churn', 'recsys-a')",
    "name NOT IN ('fraud')",
    'name = "it\'s-quoted"',
    "run_id = 'run-a'",
    "run_id IN ('run-a', 'run-c')",
    "run_id != 'run-a'",
    "version_number = 2",
    "version_number > 2",
    "version_number >= 2 AND name = 'fraud'",
    "version_number = '2'",
    "source_path = 's3://models/fraud/1'",
    "source_path LIKE 's3://models/fraud/%'",
    "source_path ILIKE 'S3://MODELS/CHURN/%'",
    "tags.auc = '0.9'",
    "tags.auc != '0.9'",
    "tags.n LIKE '%4'",
    "name = 'fraud' AND tags.n = '4'",
    "current_stage = 'Production'",
    "status = 'READY'",
    "version = 2",
    "versions_number = 2",
    "name = 'fraud' OR name = 'churn'",
    "name ~ 'x'",
    "tags.auc IS NULL",
    "run_id = 'run-a' AND",
    "name = 'unterminated",
    "creation_timestamp > 0",
)
VERSION_ORDERS: tuple[list[str] | None, ...] = (
    None,
    ["version_number"],
    ["version_number DESC"],
    ["name DESC", "version_number ASC"],
    ["name"],
    ["creation_timestamp DESC"],
    ["creation_timestamp"],
    ["last_updated_timestamp DESC"],
    ["last_updated_timestamp"],
    ["timestamp"],
    ["run_id"],
    ["foo DESC"],
    ["version_number DESC", "version_number"],
)


def searches() -> list[Call]:
    """Each filter in the default order and page size, each order walked in pages of 2 or 3, and
    a few filters and orders in pages of 1 to 100."""
    calls = [call("search_registered_models", filter_string=f) for f in MODEL_FILTERS]
    calls += [call("search_registered_models", order_by=o, max_results=2) for o in MODEL_ORDERS]
    calls += [call("search_model_versions", filter_string=f) for f in VERSION_FILTERS]
    calls += [call("search_model_versions", order_by=o, max_results=3) for o in VERSION_ORDERS]
    for size in (1, 2, 4, 100):
        calls += [
            search("search_registered_models", "tags.team LIKE 'r%'", size, ["name DESC"]),
            search("search_model_versions", "name LIKE '%'", size, ["last_updated_timestamp"]),
            search("search_model_versions", "run_id != 'x'", size, ["name", "version_number"]),
        ]
    return calls


def random_calls(rng: random.Random) -> list[Call]:
    """A few hundred calls over a small pool of names, aliases and tags, so that they collide."""

    def name() -> str:
        return rng.choice(POOL)

    def version() -> str:
        return rng.choice(("1", "2", "3", "4", "1", "2", "0", "x"))

    makers = [
        lambda: call("create_registered_model", name()),
        lambda: call("create_registered_model", name()),
        lambda: call("create_model_version", name(), f"s3://bucket/{rng.randrange(100)}/model"),
        lambda: call("create_model_version", name(), "s3://bucket/x/y", run_id=rng.choice("ab")),
        lambda: call("rename_registered_model", name(), name()),
        lambda: call("delete_registered_model", name()),
        lambda: call("delete_model_version", name(), version()),
        lambda: call("set_registered_model_tag", name(), rng.choice(TAG_KEYS), rng.choice("xy")),
        lambda: call("delete_registered_model_tag", name(), rng.choice(TAG_KEYS)),
        lambda: call("set_model_version_tag", name(), version(), rng.choice(TAG_KEYS), "v"),
        lambda: call("delete_model_version_tag", name(), version(), rng.choice(TAG_KEYS)),
        lambda: call("set_registered_model_alias", name(), rng.choice(ALIASES), version()),
        lambda: call("delete_registered_model_alias", name(), rng.choice(ALIASES)),
        lambda: call("get_model_version_by_alias", name(), rng.choice(ALIASES)),
        lambda: call(
            "transition_model_version_stage",
            name(),
            version(),
            rng.choice(STAGES),
            archive_existing_versions=rng.random() < 0.3,
        ),
        lambda: call("update_registered_model", name(), description=rng.choice(("", "d"))),
        lambda: call("update_model_version", name(), version(), description="d"),
        lambda: call("get_registered_model", name()),
        lambda: call("get_model_version", name(), version()),
        lambda: call("get_latest_versions", name()),
        lambda: call("get_model_version_download_uri", name(), version()),
        lambda: call("search_registered_models", order_by=[rng.choice(("name", "timestamp"))]),
        lambda: call(
            "search_model_versions",
            filter_string=f"name = '{name()}'",
            order_by=[rng.choice(("version_number", "last_updated_timestamp DESC"))],
        ),
    ]
    return [rng.choice(makers)() for _ in range(RANDOM_CALLS)]


# -- replaying and comparing ------------------------------------------------------------------


def sections() -> list[list[Call]]:
    """The one list of calls, in sections that each start from an empty registry."""
    return [every_call(), search_seed() + searches(), random_calls(random.Random(SEED))]


def normalized(value: Any) -> Any:
    """What a caller can rely on: no timestamps, run links or user ids; None and "" alike, as
    MLflow's entities turn an empty field into either."""
    if isinstance(value, RegisteredModel):
        return {
            "name": value.name,
            "description": value.description or "",
            "tags": sorted(value.tags.items()),
            "aliases": sorted(value.aliases.items()),
            "latest_versions": sorted(
                (v.version, v.current_stage) for v in value.latest_versions or []
            ),
        }
    if isinstance(value, ModelVersion):
        return {
            "name": value.name,
            "version": str(value.version),
            "source": value.source,
            "run_id": value.run_id or "",
            "model_id": value.model_id or "",
            "current_stage": value.current_stage,
            "status": value.status,
            "status_message": value.status_message or "",
            "description": value.description or "",
            "tags": sorted(value.tags.items()),
            "aliases": sorted(value.aliases),
        }
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


class Replayer:
    """Replays the calls on one server through the stock client and keeps its answers."""

    def __init__(self, url: str) -> None:
        self.client = MlflowClient(tracking_uri=url, registry_uri=url)
        # When the server last answered: each call waits for the next millisecond, so that no
        # two writes share a timestamp and orders by time are total on both servers.
        self._answered = 0

    def replay(self, sections: list[list[Call]]) -> list[Answer]:
        answers = []
        for calls in sections:
            for model in self.client.search_registered_models(max_results=1000):
                self.client.delete_registered_model(model.name)
            answers += [self._answer(each) for each in calls]
        return answers

    def _answer(self, each: Call) -> Answer:
        while time.time_ns() // 1_000_000 <= self._answered:
            time.sleep(0.0002)
        try:
            method = getattr(self.client, each.method)
            if each.method in SEARCHES:
                return Answer(result=self._pages(method, each.kwargs))
            return Answer(result=normalized(method(*each.args, **each.kwargs)))
        except MlflowException as error:
            # The client puts the code in front of the server's message.
            message = error.message.removeprefix(f"{error.error_code}: ")
            return Answer(error_code=error.error_code, message=message)
        finally:
            self._answered = time.time_ns() // 1_000_000

    @staticmethod
    def _pages(search: Callable[..., PagedList[Any]], kwargs: dict[str, Any]) -> list[Any]:
        """Every page, normalized; a server that never stops handing out tokens ends the walk
        after MAX_PAGES with a mark instead of a page."""
        pages = [search(**kwargs)]
        while pages[-1].token:
            if len(pages) == MAX_PAGES:
                return [normalized(page) for page in pages] + ["more pages"]
            pages.append(search(**kwargs, page_token=pages[-1].token))
        return [normalized(page) for page in pages]


def result_difference(mlflow: Any, ours: Any) -> str:
    """How two results differ, as the table names it: `result: order` for the same items in
    another order, `result: <fields>` for the same items with those fields unlike, `result:
    pages` for the same items paged otherwise, else `result: items`."""
    mlflow_items, our_items = _items(mlflow), _items(ours)
    mlflow_keys, our_keys = _identities(mlflow_items), _identities(our_items)
    if mlflow_keys == our_keys:
        fields = {
            field
            for theirs, mine in zip(mlflow_items, our_items, strict=True)
            for field in theirs.keys() | mine.keys()
            if theirs.get(field) != mine.get(field)
        }
        return "result: " + (", ".join(sorted(fields)) or "pages")
    if sorted(mlflow_keys) == sorted(our_keys):
        return "result: order"
    return "result: items"


def _items(result: Any) -> list[Any]:
    """A search's pages, or a list, or one result, as a list of items."""
    if not isinstance(result, list):
        return [result]
    if all(isinstance(page, list) for page in result):
        return [item for page in result for item in page]
    return result


def _identities(items: list[Any]) -> list[str]:
    return [
        f"{item.get('name')}/{item.get('version')}" if isinstance(item, dict) else repr(item)
        for item in items
    ]


def documented_differences() -> set[tuple[str, ...]]:
    """(method, MLflow's answer, ours) for each row of the table in docs/mlflow-compat.md: the
    first `word` of each of its first three cells."""
    rows = set()
    for line in COMPAT_DOC.read_text().splitlines():
        cells = line.split("|")[1:-1]
        if len(cells) >= 4 and cells[0].strip().startswith("`"):
            words = [re.search(r"`([^`]+)`", cell) for cell in cells[:3]]
            assert all(words), f"a row without a `word` in each of its first cells: {line}"
            rows.add(tuple(word.group(1) for word in words if word))
    return rows


def message_words(message: str) -> set[str]:
    return {word for word in MESSAGE_WORDS if word in message.lower()}


# -- the test --------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def no_retries() -> Iterator[None]:
    # A 5xx answers at once instead of after seven retries.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        yield


@pytest.fixture(scope="module")
def mlflow_answers(tmp_path_factory: pytest.TempPathFactory) -> list[Answer]:
    """MLflow's answers to every call, asked once for both of our backends."""
    with mlflow_serving(tmp_path_factory.mktemp("mlflow")) as url:
        return Replayer(url).replay(sections())


def test_every_answer_is_mlflows_or_a_documented_difference(
    mlflow_answers: list[Answer],
    http_server: RunningServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert http_server.http is not None
    calls = [each for section in sections() for each in section]
    our_answers = Replayer(f"http://127.0.0.1:{http_server.http.port}").replay(sections())

    compared = [
        Compared(*answers) for answers in zip(calls, mlflow_answers, our_answers, strict=True)
    ]
    differences = [each for each in compared if not each.mlflow.agrees_with(each.ours)]
    shared_errors = [
        (e.mlflow, e.ours) for e in compared if e.mlflow.error_code and e.ours.error_code
    ]
    worded_otherwise = [
        (mlflow.error_code or "", mlflow.message, ours.message)
        for mlflow, ours in shared_errors
        if not message_words(mlflow.message) <= message_words(ours.message)
    ]
    report = {
        "agree": len(compared) - len(differences),
        "compared": len(compared),
        "shared_errors": len(shared_errors),
        "errors_worded_alike": len(shared_errors) - len(worded_otherwise),
        "differences": sorted({" / ".join(each.key) for each in differences}),
        "errors_worded_otherwise": sorted(set(worded_otherwise)),
        "detail": [[str(each.call), str(each.mlflow), str(each.ours)] for each in differences],
    }
    path = tmp_path / "mlflow-differential.json"
    path.write_text(json.dumps(report, indent=2))
    with capsys.disabled():
        print(
            f"\nMLflow differential: {report['agree']}/{report['compared']} answers agree; "
            f"{report['errors_worded_alike']}/{report['shared_errors']} shared errors worded alike "
            f"({path})"
        )

    documented = documented_differences()
    seen = {each.key for each in differences}
    unexpected = sorted(seen - documented)
    assert not unexpected, f"differences not in docs/mlflow-compat.md (see {path}): {unexpected}"
    stale = sorted(documented - seen)
    assert not stale, f"listed in docs/mlflow-compat.md but no longer seen: {stale}"
    unlike = {words for words in worded_otherwise if words[0] in MISSING_OR_TAKEN}
    assert not unlike, f"errors worded unlike MLflow's: {unlike}"


@pytest.mark.parametrize("name", ["it's", 'say "hi"', "back\\slash", "naïve-模型", "tab\tname"])
def test_a_missing_model_is_named_in_mlflows_words_whatever_its_name(name: str) -> None:
    response = error_response(model_not_found(name))

    assert response.status_code == 404
    assert json.loads(response.body) == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"Registered Model with name={name} not found",
    }
