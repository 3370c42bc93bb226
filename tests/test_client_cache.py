"""RegistryClient.cache: answers from memory equal the server's, it is never silently stale, and
it recovers across a server restart and a switch of replica, and says why when a token is revoked.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from modelregistry.v1 import events_pb2
from modelregistry.v1.registry_service_pb2_grpc import ModelRegistryServiceStub

from bench import cache as cache_bench
from registry_service.client import RegistryClient
from registry_service.client_cache import ModelCache, ModelChange, StaleCache
from registry_service.config import Settings
from registry_service.errors import NotFound, RegistryError, Unauthenticated, Unavailable
from registry_service.server import RunningServer, start
from registry_service.store.access_store import AccessStore
from registry_service.store.registry_store import RegistryStore
from tests.processes import PATIENCE_S, serving

# The server sends a heartbeat this often while idle, so that the cache proves itself current
# without probing; polls after activity as the default does.
QUICK_FEED = {"event_heartbeat_interval": 0.2, "event_poll_interval": 0.05}
HEARTBEAT = ["--event-heartbeat-interval", "0.2", "--event-poll-interval", "0.05"]
CACHED = ["alpha", "beta", "gamma"]
# Models the random writes also touch: renames move models between these and the cached names.
OTHERS = ["delta"]
ALIASES = ["champion", "challenger"]
STAGES = ["None", "Staging", "Production", "Archived"]
OWN_SUBCHANNELS = [("grpc.use_local_subchannel_pool", 1)]


@pytest.fixture
def feed_server(store: RegistryStore) -> Iterator[RunningServer]:
    running = start(Settings(port=0, http_port=-1, webhooks=False, **QUICK_FEED), store=store)
    yield running
    running.stop(None)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def proved_after(cache: ModelCache, instant: float) -> bool:
    """Whether the cache has proved itself current as of a moment after ``instant``."""
    freshness = cache.freshness()
    age = freshness.proved_age
    return age is not None and time.monotonic() - age > instant


def is_stale(cache: ModelCache) -> bool:
    return not cache.freshness().fresh


def outcome(call: Callable[[], Any]) -> Any:
    """What a caller sees: the result, or the error's class, message, code, reason and field."""
    try:
        return call()
    except RegistryError as error:
        return (type(error).__name__, str(error), error.code, error.reason, error.field)


def answers(reader: RegistryClient | ModelCache, name: str) -> list[Any]:
    """Every read the cache serves, for versions 0 to 9, every alias and stages lists."""
    seen: list[Any] = [outcome(partial(reader.get_registered_model, name))]
    for number in range(10):
        seen.append(outcome(partial(reader.get_model_version, name, number)))
    for alias in [*ALIASES, "latest", "unknown", "bad alias!"]:
        seen.append(outcome(partial(reader.get_model_version_by_alias, name, alias)))
    for stages in ([], ["production"], ["Staging", "None"], ["Archived"], ["bogus"]):
        seen.append(outcome(partial(reader.get_latest_versions, name, stages)))
    return seen


def random_write(client: RegistryClient, rng: random.Random) -> None:
    """One random change to an existing model and version, mostly; a creation when few exist.
    Never a write that changes nothing (a tag set to its value, a version moved to its own
    stage): the server changes the etag and the update time on those without an event (see
    docs/events.md, "A client cache"), which no cache fed by the feed can know of."""
    names = CACHED + OTHERS
    existing = [model.name for model in client.search_registered_models()]
    missing = [name for name in names if name not in existing]
    if missing and (not existing or rng.random() < 0.15):
        client.create_registered_model(rng.choice(missing))
        return
    name = rng.choice(existing)
    versions = {v.version: v for v in client.search_model_versions(f"name = '{name}'")}
    value = f"{rng.random():.6f}"
    if not versions or rng.random() < 0.2:
        client.create_model_version(name, f"s3://b/{value}")
        return
    number = rng.choice(list(versions))
    # Production most often, so that archive_existing_versions has versions to archive.
    stages = [*STAGES, "Production", "Production", "Staging"]
    stage = rng.choice([s for s in stages if s != versions[number].current_stage])
    alias = rng.choice(ALIASES)
    aliased = client.get_registered_model(name).aliases.get(alias)
    writes: list[Callable[[], object]] = [
        partial(client.transition_model_version_stage, name, number, stage, rng.random() < 0.5),
        partial(client.transition_model_version_stage, name, number, stage, True),
        partial(client.delete_registered_model_alias, name, alias),
        partial(client.delete_model_version, name, number),
        partial(client.rename_registered_model, name, rng.choice(missing or names)),
        partial(client.set_registered_model_tag, name, "team", value),
        partial(client.set_model_version_tag, name, number, "auc", value),
        partial(client.update_model_version, name, number, description=value),
        partial(client.update_registered_model, name, description=value),
    ]
    if aliased != number:
        writes += [partial(client.set_registered_model_alias, name, alias, number)] * 2
    if rng.random() < 0.03:
        writes = [partial(client.delete_registered_model, name)]
    with suppress(RegistryError):
        rng.choice(writes)()


def scripted_writes(client: RegistryClient) -> list[Callable[[], object]]:
    """Every kind of change once, before the random ones: archiving, alias moves and deletes,
    a rename out of the cached names and one into them, deletions of a version and a model."""
    return [
        partial(client.transition_model_version_stage, "alpha", 1, "Production"),
        partial(client.set_registered_model_alias, "alpha", "champion", 1),
        partial(client.create_model_version, "alpha", "s3://b/2"),
        partial(client.transition_model_version_stage, "alpha", 2, "Production", True),
        partial(client.set_registered_model_alias, "alpha", "champion", 2),
        partial(client.set_registered_model_alias, "alpha", "challenger", 1),
        partial(client.delete_registered_model_alias, "alpha", "challenger"),
        partial(client.delete_model_version, "alpha", 1),
        partial(client.rename_registered_model, "beta", "delta"),
        partial(client.create_registered_model, "beta"),
        partial(client.rename_registered_model, "delta", "gamma"),
        partial(client.delete_registered_model, "beta"),
    ]


def test_cached_answers_equal_the_servers_after_random_writes(
    feed_server: RunningServer,
) -> None:
    """After each kind of write, then random ones (creations, renames in and out of the cached
    names, deletions, transitions with archive_existing, alias moves), once the cache has proved
    itself current every read it serves equals the RPC's: the same messages (etags included) and
    the same errors."""
    rng = random.Random(27)
    with RegistryClient(f"127.0.0.1:{feed_server.port}") as client:
        for name in CACHED[:2]:
            client.create_registered_model(name)
            client.create_model_version(name, "s3://b/0")
        with client.cache(names=CACHED, strict=True) as cache:
            writes = [*scripted_writes(client), *[partial(random_write, client, rng)] * 96]
            for position, write in enumerate(writes, start=1):
                write()
                if position % 4:
                    continue
                written = time.monotonic()
                wait_for(partial(proved_after, cache, written), "the cache proved current")
                for name in CACHED + OTHERS:
                    assert answers(cache, name) == answers(client, name), (name, position)


def test_a_read_from_memory_is_never_older_than_max_staleness(
    feed_server: RunningServer,
) -> None:
    """A writer moves champion to ever higher versions while readers read it from a strict
    cache: every answer is at least the version champion had max_staleness before the read."""
    max_staleness = 0.5
    with RegistryClient(f"127.0.0.1:{feed_server.port}") as client:
        client.create_registered_model("fraud")
        for number in range(1, 41):
            client.create_model_version("fraud", f"s3://b/{number}")
        client.set_registered_model_alias("fraud", "champion", 1)
        moves: list[tuple[float, int]] = [(time.monotonic(), 1)]
        reads: list[tuple[float, int]] = []
        with client.cache(names=["fraud"], max_staleness=max_staleness, strict=True) as cache:
            done = threading.Event()

            def read() -> None:
                while not done.is_set():
                    # A pause between reads leaves the writer and the cache's threads the GIL.
                    time.sleep(0.001)
                    started = time.monotonic()
                    try:
                        version = cache.get_model_version_by_alias("fraud", "champion")
                    except StaleCache:
                        continue
                    reads.append((started, version.version))

            readers = [threading.Thread(target=read) for _ in range(3)]
            for reader in readers:
                reader.start()
            for number in range(2, 41):
                client.set_registered_model_alias("fraud", "champion", number)
                moves.append((time.monotonic(), number))
                time.sleep(rng_pause(number))
            done.set()
            for reader in readers:
                reader.join()
    assert len(reads) > 100
    for started, version in reads:
        settled = [number for moved, number in moves if moved <= started - max_staleness]
        assert not settled or version >= settled[-1], (started, version)


def rng_pause(number: int) -> float:
    """Pauses between moves that vary, so that some reads fall right after a move."""
    return 0.02 + (number % 5) * 0.03


def test_on_change_tells_a_serving_process_that_champion_moved(
    feed_server: RunningServer,
) -> None:
    with RegistryClient(f"127.0.0.1:{feed_server.port}") as client:
        client.create_registered_model("fraud")
        client.create_model_version("fraud", "s3://b/1")
        client.create_model_version("fraud", "s3://b/2")
        client.set_registered_model_alias("fraud", "champion", 1)
        swapped: list[int] = []

        def hot_swap(change: ModelChange) -> None:
            if change.alias_moved("champion") and change.after is not None:
                swapped.append(change.after.aliases["champion"])

        with client.cache(names=["fraud"]) as cache:
            cache.on_change(hot_swap)
            client.set_model_version_tag("fraud", 1, "auc", "0.9")
            client.set_registered_model_alias("fraud", "champion", 2)
            wait_for(lambda: swapped == [2], "the callback saw champion move to 2")
            assert cache.get_model_version_by_alias("fraud", "champion").version == 2


def test_a_cache_survives_a_server_restart_on_the_same_database(database_url: str) -> None:
    """While the server is down a strict cache refuses, naming the broken stream, and a lax one
    asks the server (and fails as a call would); after the restart it catches up and is fresh."""
    args = ["--database-url", database_url, *HEARTBEAT]
    with serving("--port", "0", *args) as first:
        port = first.port
        with RegistryClient(first.address, timeout=5) as client:
            client.create_registered_model("fraud")
            client.create_model_version("fraud", "s3://b/1")
            client.create_model_version("fraud", "s3://b/2")
            client.set_registered_model_alias("fraud", "champion", 1)
            with (
                client.cache(names=["fraud"], max_staleness=1.0, strict=True) as strict,
                client.cache(names=["fraud"], max_staleness=1.0) as lax,
            ):
                assert strict.freshness().fresh
                first.stop()
                for cache in (strict, lax):
                    wait_for(partial(is_stale, cache), "the cache went stale")
                with pytest.raises(StaleCache) as refused:
                    strict.get_model_version_by_alias("fraud", "champion")
                assert "watch stream" in str(refused.value) or "probe" in str(refused.value)
                with pytest.raises(Unavailable):
                    lax.get_model_version_by_alias("fraud", "champion")
                with serving("--port", str(port), *args) as second:
                    # A channel of its own (gRPC shares subchannels between a process's channels):
                    # the cache's is waiting out gRPC's reconnection backoff.
                    with RegistryClient(second.address, options=OWN_SUBCHANNELS) as writer:
                        writer.set_registered_model_alias("fraud", "champion", 2)
                    written = time.monotonic()
                    for cache in (strict, lax):
                        wait_for(partial(proved_after, cache, written), "current again")
                        version = cache.get_model_version_by_alias("fraud", "champion")
                        assert version.version == 2


def test_a_cache_follows_the_feed_to_another_replica(database_url: str) -> None:
    """Two servers on one database; the cache's client knows both. When one stops, the stream
    resumes on the other by sequence and the cache carries on."""
    args = ["--port", "0", "--database-url", database_url, *HEARTBEAT]
    with (
        serving(*args) as one,
        serving(*args) as two,
        RegistryClient([one.address, two.address], timeout=5) as client,
    ):
        client.create_registered_model("fraud")
        for number in (1, 2, 3):
            client.create_model_version("fraud", f"s3://b/{number}")
        client.set_registered_model_alias("fraud", "champion", 1)
        with client.cache(names=["fraud"], max_staleness=1.0, strict=True) as cache:
            one.stop()
            with RegistryClient(two.address) as writer:
                writer.set_registered_model_alias("fraud", "champion", 2)
                writer.transition_model_version_stage("fraud", 3, "Production")
            written = time.monotonic()
            wait_for(partial(proved_after, cache, written), "proved current via the replica")
            assert cache.get_model_version_by_alias("fraud", "champion").version == 2
            latest = cache.get_latest_versions("fraud", ["Production"])
            assert [version.version for version in latest] == [3]


def test_a_cache_refused_a_stream_keeps_up_by_probing(store: RegistryStore) -> None:
    """The server's one watch stream is taken: the cache's watch is refused (RESOURCE_EXHAUSTED)
    and it follows the feed by its probes, still proving itself current."""
    settings = Settings(port=0, http_port=-1, webhooks=False, max_watch_streams=1, **QUICK_FEED)
    running = start(settings, store=store)
    try:
        with RegistryClient(f"127.0.0.1:{running.port}") as client:
            client.create_registered_model("fraud")
            client.create_model_version("fraud", "s3://b/1")
            client.create_model_version("fraud", "s3://b/2")
            client.set_registered_model_alias("fraud", "champion", 1)
            stub = ModelRegistryServiceStub(client.channel)
            occupant = stub.WatchEvents(events_pb2.WatchEventsRequest())
            next(occupant)
            with client.cache(names=["fraud"], max_staleness=1.0, strict=True) as cache:
                client.set_registered_model_alias("fraud", "champion", 2)
                written = time.monotonic()
                wait_for(partial(proved_after, cache, written), "proved current by probes")
                assert cache.get_model_version_by_alias("fraud", "champion").version == 2
                assert cache.freshness().heartbeat_age is None
            occupant.cancel()
    finally:
        running.stop(None)


def test_a_revoked_token_makes_the_cache_stale_and_it_says_why(store: RegistryStore) -> None:
    admin_token = AccessStore(store).create_token("root", admin=True)[1]
    settings = Settings(port=0, http_port=-1, webhooks=False, auth="token", **QUICK_FEED)
    running = start(settings, store=store)
    address = f"127.0.0.1:{running.port}"
    try:
        with RegistryClient(address, token=admin_token) as admin:
            admin.create_registered_model("fraud")
            admin.create_model_version("fraud", "s3://b/1")
            admin.set_registered_model_alias("fraud", "champion", 1)
            fleet_token = admin.create_access_token("fleet", admin=True).token
            with (
                RegistryClient(address, token=fleet_token, timeout=5) as fleet,
                fleet.cache(names=["fraud"], max_staleness=1.0, strict=True) as strict,
                fleet.cache(names=["fraud"], max_staleness=1.0) as lax,
            ):
                assert strict.get_model_version_by_alias("fraud", "champion").version == 1
                admin.revoke_access_token(admin.list_access_tokens("fleet")[0].id)
                for cache in (strict, lax):
                    wait_for(partial(is_stale, cache), "the cache went stale")
                    assert "UNAUTHENTICATED" in cache.freshness().problem
                with pytest.raises(StaleCache, match="UNAUTHENTICATED"):
                    strict.get_model_version_by_alias("fraud", "champion")
                with pytest.raises(Unauthenticated):
                    lax.get_model_version_by_alias("fraud", "champion")
    finally:
        running.stop(None)


def test_a_cache_reading_by_grant_sees_a_deletion_whose_event_it_is_not_shown(
    store: RegistryStore,
) -> None:
    """With --default-permission NONE a user reads a model by its grant; deleting the model
    takes the grant, so the user is not shown the deletion's event. The cache still finds out
    (its probes compare etags) and answers NotFound as the server does, and the same after a
    grant is revoked."""
    admin_token = AccessStore(store).create_token("root", admin=True)[1]
    settings = Settings(
        port=0, http_port=-1, webhooks=False, auth="token", default_permission="NONE", **QUICK_FEED
    )
    running = start(settings, store=store)
    address = f"127.0.0.1:{running.port}"
    try:
        with RegistryClient(address, token=admin_token) as admin:
            for name in ("fraud", "churn"):
                admin.create_registered_model(name)
                admin.create_model_version(name, "s3://b/1")
                admin.set_registered_model_alias(name, "champion", 1)
                admin.set_registered_model_permission(name, "ann", "READ")
            ann_token = admin.create_access_token("ann").token
            with (
                RegistryClient(address, token=ann_token) as ann,
                ann.cache(names=["fraud", "churn"], max_staleness=1.0, strict=True) as cache,
            ):
                assert cache.get_model_version_by_alias("fraud", "champion").version == 1
                admin.delete_registered_model("fraud")
                admin.delete_registered_model_permission("churn", "ann")
                written = time.monotonic()
                wait_for(partial(proved_after, cache, written), "proved current")
                for name in ("fraud", "churn"):
                    assert answers(cache, name) == answers(ann, name)
                    with pytest.raises(NotFound):
                        cache.get_model_version_by_alias(name, "champion")
    finally:
        running.stop(None)


def test_bench_cache_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`make bench-cache`'s harness in a tiny configuration; its timings are never asserted."""
    out = tmp_path / "cache.json"
    arguments = ["--seconds", "0.2", "--threads", "2", "--moves", "3", "--max-pause", "0.1"]
    assert cache_bench.main([*arguments, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["resolutions_per_s"]) == {
        "cache, 1 thread",
        "cache, 2 threads",
        "RPC, 1 thread",
    }
    assert all(rate > 0 for rate in report["resolutions_per_s"].values())
    assert "commit to cache" in capsys.readouterr().out
