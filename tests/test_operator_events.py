"""`registry events` and `registry webhooks` against a real server on both backends: the change
feed listed and watched (resumable by sequence), and webhooks managed, tested and their delivery
log read, as an operator sees them on stdout, stderr and in the exit code."""

from __future__ import annotations

import json
import threading

from click.testing import Result

from registry_service.client import RegistryClient
from registry_service.server import RunningServer

from . import test_webhooks
from .operator_cli import ok, ok_json, run
from .processes import PATIENCE_S
from .test_webhooks import SECRET, Receiver, settled

# The webhook tests' fixtures: a server delivering to local addresses, quickly; its client; an
# endpoint that checks signatures.
delivering = test_webhooks.delivering
hooks = test_webhooks.hooks
receiver = test_webhooks.receiver


def seed(client: RegistryClient) -> None:
    """Events 1-4: fraud created, its version 1, churn created, fraud's alias champion."""
    client.create_registered_model("fraud")
    client.create_model_version("fraud", "s3://bucket/fraud/1")
    client.create_registered_model("churn")
    client.set_registered_model_alias("fraud", "champion", 1)


# -- events ------------------------------------------------------------------------------------


def test_events_list_is_a_table_and_json(server: RunningServer, client: RegistryClient) -> None:
    seed(client)

    lines = ok(server, "events", "list").stdout.splitlines()
    assert lines[0].split() == ["SEQUENCE", "TIME", "TYPE", "MODEL", "VERSION", "ACTOR"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3", "4"]
    assert "MODEL_VERSION_CREATED" in lines[2] and "fraud" in lines[2]

    listed = ok_json(server, "events", "list")
    assert [e["event_type"] for e in listed] == [
        "REGISTERED_MODEL_CREATED",
        "MODEL_VERSION_CREATED",
        "REGISTERED_MODEL_CREATED",
        "MODEL_VERSION_ALIAS_CREATED",
    ]
    assert listed[0]["version"] is None and listed[0]["before"] is None
    assert listed[1]["version"] == 1 and listed[1]["after"]["source"] == "s3://bucket/fraud/1"


def test_events_list_selects_by_model_type_and_starting_point(
    server: RunningServer, client: RegistryClient
) -> None:
    seed(client)

    by_model = ok_json(server, "events", "list", "--model", "churn")
    assert [e["sequence"] for e in by_model] == [3]
    by_type = ok_json(server, "events", "list", "--type", "registered_model_created")
    assert [e["model_name"] for e in by_type] == ["fraud", "churn"]
    after = ok_json(server, "events", "list", "--after", "2", "--max-results", "1")
    assert [e["sequence"] for e in after] == [3]
    assert ok(server, "events", "list", "--after", "4").stdout.strip() == "no events"


def test_events_watch_prints_a_line_per_event_and_resumes_after_a_sequence(
    server: RunningServer, client: RegistryClient
) -> None:
    seed(client)

    first = ok(server, "--json", "events", "watch", "--count", "2").stdout.splitlines()
    assert [json.loads(line)["sequence"] for line in first] == [1, 2]
    # Resumed after the last sequence printed: nothing missed, nothing repeated.
    rest = ok(server, "--json", "events", "watch", "--after", "2", "--count", "2").stdout
    assert [json.loads(line)["sequence"] for line in rest.splitlines()] == [3, 4]

    text = ok(server, "events", "watch", "--after", "3", "--count", "1").stdout
    assert text.split()[0] == "4" and "MODEL_VERSION_ALIAS_CREATED" in text


def test_events_watch_prints_events_as_they_commit(
    server: RunningServer, client: RegistryClient
) -> None:
    seed(client)
    watched: list[Result] = []
    watcher = threading.Thread(
        target=lambda: watched.append(
            run(
                server,
                "--json",
                "events",
                "watch",
                "--after",
                "4",
                "--type",
                "model_version_created",
                "--count",
                "1",
            )
        )
    )
    watcher.start()
    client.create_registered_model("later")  # not a version: filtered out
    client.create_model_version("later", "s3://bucket/later/1")
    watcher.join(PATIENCE_S)
    assert not watcher.is_alive()
    [result] = watched
    assert result.exit_code == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line) | {"timestamp": 0} == json.loads(line) | {
        "timestamp": 0,
        "sequence": 6,
        "model_name": "later",
        "version": 1,
        "event_type": "MODEL_VERSION_CREATED",
    }


def test_an_unknown_event_type_is_a_usage_error(server: RunningServer) -> None:
    result = run(server, "events", "list", "--type", "model_exploded")
    assert result.exit_code == 2
    assert "model_exploded" in result.stderr


# -- webhooks ----------------------------------------------------------------------------------


def receiving_webhook(server: RunningServer, receiver: Receiver) -> str:
    """The id of a new webhook posting created versions to ``receiver``, signed as it checks."""
    created = ok_json(
        server,
        "webhooks",
        "create",
        receiver.url,
        "--event",
        "model_version_created",
        "--secret",
        SECRET,
    )
    webhook_id: str = created["id"]
    return webhook_id


def test_webhooks_create_list_update_delete(
    delivering: RunningServer, hooks: RegistryClient
) -> None:
    created = ok_json(
        delivering,
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "--event",
        "model_version_created",
        "--name",
        "ci",
        "--secret",
        "s3cret",
    )
    webhook_id = created["id"]
    assert created["event_types"] == ["MODEL_VERSION_CREATED"]
    assert created["has_secret"] and created["enabled"] and "secret" not in created

    lines = ok(delivering, "webhooks", "list").stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "URL", "ENABLED", "EVENTS"]
    assert lines[1].split() == [
        webhook_id,
        "ci",
        "http://127.0.0.1:9/hook",
        "yes",
        "MODEL_VERSION_CREATED",
    ]

    updated = ok(
        delivering,
        "webhooks",
        "update",
        webhook_id,
        "--disable",
        "--event",
        "model_version_deleted",
    ).stdout
    assert "enabled:     no" in updated and "MODEL_VERSION_DELETED" in updated
    [kept] = hooks.list_webhooks()
    assert kept.name == "ci" and kept.has_secret and not kept.enabled

    assert ok(delivering, "webhooks", "delete", webhook_id).stdout.strip() == (
        f"deleted webhook {webhook_id}"
    )
    assert ok(delivering, "webhooks", "list").stdout.strip() == "no webhooks"


def test_webhooks_create_reads_the_secret_from_the_environment(
    delivering: RunningServer, hooks: RegistryClient
) -> None:
    result = run(
        delivering,
        "--json",
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "--event",
        "model_version_created",
        env={"REGISTRY_WEBHOOK_SECRET": "from-env"},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["has_secret"]


def test_webhooks_test_shows_the_answer_and_fails_when_the_endpoint_does(
    delivering: RunningServer, receiver: Receiver
) -> None:
    webhook_id = receiving_webhook(delivering, receiver)

    delivered = ok(delivering, "webhooks", "test", webhook_id).stdout
    assert delivered.startswith("delivered: HTTP 200\nreceived ")

    receiver.failures = [500]
    failed = run(delivering, "webhooks", "test", webhook_id, "--event", "model_version_created")
    assert failed.exit_code == 1
    assert failed.stdout.startswith("failed: HTTP 500")
    first, second = (delivery.body for delivery in receiver.deliveries)
    assert (first["entity"], first["action"]) == ("webhook", "test")
    assert (second["entity"], second["action"]) == ("model_version", "created")


def test_webhooks_deliveries_lists_the_log(
    delivering: RunningServer, hooks: RegistryClient, receiver: Receiver
) -> None:
    webhook_id = receiving_webhook(delivering, receiver)
    hooks.create_registered_model("fraud")
    hooks.create_model_version("fraud", "s3://bucket/fraud/1")
    settled(hooks, webhook_id, 1)

    lines = ok(delivering, "webhooks", "deliveries", webhook_id).stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "WEBHOOK", "EVENT", "TYPE", "STATUS"]
    assert "SUCCEEDED" in lines[1] and "200" in lines[1]

    [delivery] = ok_json(delivering, "webhooks", "deliveries", "--status", "succeeded")
    assert delivery["webhook_id"] == webhook_id
    assert delivery["event_type"] == "MODEL_VERSION_CREATED"
    assert [a["response_code"] for a in delivery["attempts"]] == [200]
    assert ok_json(delivering, "webhooks", "deliveries", "--status", "failed") == []


def test_an_unknown_webhook_is_refused_with_exit_code_1(delivering: RunningServer) -> None:
    result = run(delivering, "webhooks", "delete", "no-such-webhook")
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.stderr or "INVALID_ARGUMENT" in result.stderr
