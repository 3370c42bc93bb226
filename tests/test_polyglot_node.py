"""A Node.js client built at run time from protos/ runs the registry workflow against a real server,
and subscribes to the change feed across a server restart.

The clients are tests/polyglot/node/workflow.js and watch.js (@grpc/grpc-js and
@grpc/proto-loader, installed with `npm ci` from the committed package-lock.json). Without node or
npm the tests are skipped with the reason; REGISTRY_REQUIRE_NODE=1 (set by .ci/run) turns that
skip into a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

from registry_service.client import RegistryClient
from registry_service.server import RunningServer
from registry_service.store.engine import make_engine
from registry_service.store.registry_store import RegistryStore
from tests.processes import PATIENCE_S, serving

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "polyglot" / "node"
LOCKFILE = NODE_DIR / "package-lock.json"
# Written after a successful `npm ci`: the hash of the lockfile node_modules was installed from.
INSTALLED = NODE_DIR / "node_modules" / ".installed-lock-sha256"
NODE_MAJOR = 20
# The feed's pace for the watch test: a heartbeat every 0.2 s while idle, polls after activity.
QUICK_FEED = ["--event-heartbeat-interval", "0.2", "--event-poll-interval", "0.05"]
# A channel of the test's own: gRPC shares subchannels between a process's channels, and one to
# the stopped server's address waits out its reconnection backoff.
OWN_SUBCHANNELS = [("grpc.use_local_subchannel_pool", 1)]


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("REGISTRY_REQUIRE_NODE") == "1":
        pytest.fail(f"{reason}; REGISTRY_REQUIRE_NODE=1 requires the Node.js client test")
    pytest.skip(f"{reason}: Node.js client test skipped (REGISTRY_REQUIRE_NODE=1 makes it fail)")


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the client's packages installed from the lockfile."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        unavailable("node or npm is not on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < NODE_MAJOR:
        unavailable(f"node {version.stdout.strip()} is older than v{NODE_MAJOR}")
    lock_hash = hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()
    if not INSTALLED.exists() or INSTALLED.read_text() != lock_hash:
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
        )
        INSTALLED.write_text(lock_hash)
    return node


def run_workflow(node: str, server: RunningServer, name: str) -> dict[str, Any]:
    result = subprocess.run(
        [node, "workflow.js", f"127.0.0.1:{server.port}", name],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"node client failed:\n{result.stderr}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_node_client_runs_the_registry_workflow(
    node: str, googleapis_module: Path, server: RunningServer, client: RegistryClient
) -> None:
    seen = run_workflow(node, server, "fraud-detector")

    assert seen["model"]["name"] == "fraud-detector"
    assert seen["model"]["tags"] == {"team": "risk", "client": "node"}
    # int64 fields arrive as decimal strings (proto-loader's longs: String).
    assert [(v["version"], v["source"]) for v in seen["versions"]] == [
        ("1", "runs:/0a1b2c3d/model"),
        ("2", "s3://models/fraud/2"),
    ]
    assert seen["versions"][0]["run_id"] == "0a1b2c3d"
    assert seen["versions"][0]["status"] == "MODEL_VERSION_STATUS_READY"
    assert seen["transitioned"]["current_stage"] == "Production"
    assert [(v["version"], v["current_stage"]) for v in seen["latest_production"]] == [
        ("2", "Production")
    ]
    assert seen["champion"]["version"] == "2"
    assert seen["champion"]["aliases"] == ["champion"]
    error = seen["error"]
    assert (error["code"], error["code_name"], error["status_code"]) == (5, "NOT_FOUND", 5)
    assert "99" in error["message"] and error["status_message"] == error["message"]
    assert error["reason"] == "RESOURCE_DOES_NOT_EXIST"
    assert error["domain"] == "modelregistry.v1"
    assert error["metadata"] == {"field": "version"}

    # What the Node client did is what the registry now holds.
    model = client.get_registered_model("fraud-detector")
    assert dict(model.aliases) == {"champion": 2}
    assert [(v.version, v.current_stage) for v in model.latest_versions] == [
        (1, "None"),
        (2, "Production"),
    ]


Line = dict[str, Any]


class NodeSubscriber:
    """tests/polyglot/node/watch.js subscribed to one model, and the JSON lines it printed so far.
    Closing its stdin ends the watch."""

    def __init__(self, node: str, address: str, name: str, start_after: int, log: IO[str]):
        self._log = log
        self.process = subprocess.Popen(
            [node, "watch.js", address, name, str(start_after)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self.lines: list[Line] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            with self._changed:
                self.lines.append(json.loads(text))
                self._changed.notify_all()

    def wait_for(self, what: str, matches: Callable[[Line], bool]) -> Line:
        """The first line printed that ``matches``, waiting for it if need be."""
        deadline = time.monotonic() + PATIENCE_S
        with self._changed:
            while True:
                for line in self.lines:
                    if matches(line):
                        return line
                left = deadline - time.monotonic()
                assert left > 0 and self.process.poll() is None, (
                    f"the Node subscriber never printed {what}; it printed:\n"
                    + "\n".join(map(json.dumps, self.lines))
                    + "\n"
                    + self.stderr()
                )
                self._changed.wait(min(left, 0.1))

    def heartbeat_past(self, sequence: int) -> Line:
        """A heartbeat that says the stream has read the feed up to ``sequence``."""
        return self.wait_for(
            f"a heartbeat at sequence {sequence} or later",
            lambda line: (
                line["kind"] == "heartbeat" and int(line["high_water_sequence"]) >= sequence
            ),
        )

    def finish(self) -> list[Line]:
        """Close stdin, expect the watch to end cleanly, and return every line it printed."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=PATIENCE_S)
        assert code == 0, f"the Node subscriber exited {code}:\n{self.stderr()}"
        self.wait_for("done", lambda line: line["kind"] == "done")
        with self._changed:
            return list(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stderr(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text()


def last_sequence(client: RegistryClient) -> int:
    return client.list_events()[-1].sequence


def summarized(event: Line) -> tuple[str, str, Any]:
    """An event as the Node client printed it: its type (without the prefix), its version, and
    what it says changed."""
    kind = event["event_type"].removeprefix("EVENT_TYPE_")
    if kind == "MODEL_VERSION_CREATED":
        change: Any = event["after"]["source"]
    elif kind == "MODEL_VERSION_STAGE_CHANGED":
        change = (event["before"]["current_stage"], event["after"]["current_stage"])
    else:
        change = (event["before"], event["after"])
    return kind, event["version"], change


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_node_client_watches_the_feed_and_resumes_after_a_server_restart(
    node: str, googleapis_module: Path, database_url: str, tmp_path: Path
) -> None:
    """The Node subscriber watches model fraud after a given sequence, loses its stream when the
    server stops, and resumes on the restarted server after the last sequence it saw: it gets
    the transition and alias made while it was away and those made after it resumed, each once
    and in order, and nothing of the other model the same writes touched."""
    args = ["--database-url", database_url, *QUICK_FEED]
    with serving("--port", "0", *args) as first:
        port = first.port
        with RegistryClient(first.address, timeout=10) as writer:
            writer.create_registered_model("fraud")
            start_after = last_sequence(writer)  # the model's creation is not watched
            writer.create_registered_model("churn")
            writer.create_model_version("fraud", "s3://fraud/1")
            writer.create_model_version("churn", "s3://churn/1")
            writer.create_model_version("fraud", "s3://fraud/2")
            before_stop = last_sequence(writer)
        log = (tmp_path / "node-watch.log").open("w")
        subscriber = NodeSubscriber(node, first.address, "fraud", start_after, log)
        try:
            # Caught up with the backlog: a heartbeat after it.
            subscriber.heartbeat_past(before_stop)
            first.stop()
            subscriber.wait_for("the stream's end", lambda line: line["kind"] == "disconnected")

            # While the subscriber has no server: one transition, one new alias, and a change
            # to churn that its filter must skip.
            engine = make_engine(database_url)
            store = RegistryStore(engine)
            store.transition_model_version_stage("fraud", 1, "Staging")
            store.set_registered_model_alias("fraud", "champion", 1)
            store.transition_model_version_stage("churn", 1, "Staging")
            engine.dispose()

            with serving("--port", str(port), *args) as second:
                with RegistryClient(second.address, timeout=10, options=OWN_SUBCHANNELS) as writer:
                    subscriber.heartbeat_past(last_sequence(writer))
                    # After it resumed: another transition, the alias moved, churn again.
                    writer.transition_model_version_stage("fraud", 2, "Production")
                    writer.set_registered_model_alias("fraud", "champion", 2)
                    writer.transition_model_version_stage("churn", 1, "Production")
                    subscriber.heartbeat_past(last_sequence(writer))
                    # What the server's audit history holds for fraud after start_after.
                    history = writer.list_events(start_after=start_after, model_names=["fraud"])
                lines = subscriber.finish()
        finally:
            subscriber.kill()
            log.close()

    events = [line for line in lines if line["kind"] == "event"]
    assert [summarized(event) for event in events] == [
        ("MODEL_VERSION_CREATED", "1", "s3://fraud/1"),
        ("MODEL_VERSION_CREATED", "2", "s3://fraud/2"),
        # Made while the subscriber was disconnected.
        ("MODEL_VERSION_STAGE_CHANGED", "1", ("None", "Staging")),
        (
            "MODEL_VERSION_ALIAS_CREATED",
            "1",
            ({}, {"alias": "champion", "version": 1}),
        ),
        # Made after it resumed.
        ("MODEL_VERSION_STAGE_CHANGED", "2", ("None", "Production")),
        (
            "MODEL_VERSION_ALIAS_MOVED",
            "2",
            ({"alias": "champion", "version": 1}, {"alias": "champion", "version": 2}),
        ),
    ]
    assert {event["model_name"] for event in events} == {"fraud"}
    # Exactly the server's history of fraud: strictly increasing, none missing, none twice.
    sequences = [int(event["sequence"]) for event in events]
    assert sequences == sorted(set(sequences))
    assert sequences == [event.sequence for event in history]

    # Two streams: the first from start_after, the second (after refused calls while the server
    # was down) from the last sequence the first one delivered.
    kinds = [line["kind"] for line in lines]
    ended = kinds.index("disconnected")
    assert kinds.count("disconnected") == 1
    assert [summarized(line) for line in lines[:ended] if line["kind"] == "event"] == [
        summarized(event) for event in events[:2]
    ]
    watches = [line for line in lines if line["kind"] == "watching"]
    assert watches[0]["start_after"] == str(start_after)
    assert lines[ended]["resume_after"] == str(before_stop)
    assert {line["start_after"] for line in watches[1:]} == {str(before_stop)}
    assert "heartbeat" in kinds[ended:]
    done = lines[-1]
    assert done["kind"] == "done"
    assert (done["events"], done["streams"]) == (len(events), 2)
    assert done["last_event_sequence"] == str(sequences[-1])
