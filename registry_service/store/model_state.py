"""A model as it was at a past time (``as_of``): replayed from its events, starting from its
snapshot when retention pruned the older ones (see store/retention.py)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from registry_service.domain import Event, EventType, ModelVersion, Stage, VersionStatus
from registry_service.store.outbox import event_of, version_fields
from registry_service.store.tables import events, model_snapshots


@dataclass
class ModelState:
    """A model as its events left it at some time: its versions and aliases."""

    name: str
    # The row id of the model, which the name may have passed to another since.
    model_id: int
    versions: dict[int, ModelVersion] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    deleted: bool = False

    def version_with_aliases(self, number: int) -> ModelVersion:
        version = self.versions[number]
        names = sorted(alias for alias, target in self.aliases.items() if target == number)
        return _replaced(version, aliases=names)


def state_at(connection: Connection, name: str, as_of: int) -> ModelState | None:
    """The model named ``name`` at ``as_of`` (epoch milliseconds) rebuilt from its snapshot and
    events, or None when the history knows no model of that name then (it did not exist, or its
    history began before the outbox did). ``as_of`` must not be before the retention horizon."""
    latest = connection.execute(
        select(events.c.model_id)
        .where(events.c.model_name == name)
        .where(events.c.timestamp <= as_of)
        .order_by(events.c.sequence.desc())
        .limit(1)
    ).scalar_one_or_none()
    snapshot = connection.execute(
        select(model_snapshots).where(
            model_snapshots.c.model_id == latest
            if latest is not None
            # Live models' names are unique at the horizon; deleted ones' need not be.
            else (model_snapshots.c.model_name == name) & ~model_snapshots.c.deleted
        )
    ).one_or_none()
    if latest is None and snapshot is None:
        return None
    state = (
        None
        if snapshot is None
        else state_of_snapshot(snapshot.model_id, snapshot.state, snapshot.deleted)
    )
    model_id = latest if latest is not None else snapshot.model_id  # type: ignore[union-attr]
    statement = (
        select(events)
        .where(events.c.model_id == model_id)
        .where(events.c.timestamp <= as_of)
        .order_by(events.c.sequence)
    )
    if snapshot is not None:
        statement = statement.where(events.c.sequence > snapshot.sequence)
    for row in connection.execute(statement):
        event = event_of(row)
        if event.event_type is EventType.REGISTERED_MODEL_CREATED:
            state = ModelState(event.model_name, model_id)
        elif state is not None:
            apply(state, event)
    if state is None or state.deleted or state.name != name:
        return None
    return state


def snapshot_json(state: ModelState) -> str:
    """``state`` as model_snapshots keeps it."""
    versions = [
        {
            "version": number,
            "last_updated_timestamp": version.last_updated_timestamp,
            **version_fields(version),
        }
        for number, version in sorted(state.versions.items())
    ]
    return json.dumps({"name": state.name, "versions": versions, "aliases": state.aliases})


def state_of_snapshot(model_id: int, text: str, deleted: bool) -> ModelState:
    data = json.loads(text)
    state = ModelState(str(data["name"]), model_id, aliases=dict(data["aliases"]), deleted=deleted)
    for fields in data["versions"]:
        number = int(fields["version"])
        state.versions[number] = _version_of(
            state.name, number, fields, int(fields["last_updated_timestamp"])
        )
    return state


def apply(state: ModelState, event: Event) -> None:
    kind, after, number = event.event_type, event.after, event.version
    if kind.value.startswith("transition_request."):
        return  # a request changes nothing; an approved one's change has its own events
    version = state.versions.get(number)
    if kind is EventType.REGISTERED_MODEL_RENAMED:
        state.name = str(after["name"])
        state.versions = {n: _replaced(v, name=state.name) for n, v in state.versions.items()}
    elif kind is EventType.REGISTERED_MODEL_DELETED:
        state.deleted = True
    elif kind is EventType.REGISTERED_MODEL_RESTORED:
        # Back as it was deleted (nothing changes in the trash), maybe under a new name.
        state.deleted = False
        state.name = str(after["name"])
        state.versions = {n: _replaced(v, name=state.name) for n, v in state.versions.items()}
    elif kind is EventType.MODEL_VERSION_RESTORED:
        restored = _created_version(state.name, event)
        updated = int(after.get("last_updated_timestamp", event.timestamp))
        state.versions[number] = _replaced(restored, last_updated_timestamp=updated)
        state.aliases.update(dict.fromkeys(map(str, after.get("aliases", [])), number))
    elif kind is EventType.MODEL_VERSION_CREATED:
        state.versions[number] = _created_version(state.name, event)
    elif kind is EventType.MODEL_VERSION_DELETED:
        state.versions.pop(number, None)
        state.aliases = {a: v for a, v in state.aliases.items() if v != number}
    elif kind in (EventType.MODEL_VERSION_ALIAS_CREATED, EventType.MODEL_VERSION_ALIAS_MOVED):
        state.aliases[str(after["alias"])] = int(after["version"])
    elif kind is EventType.MODEL_VERSION_ALIAS_DELETED:
        state.aliases.pop(str(event.before["alias"]), None)
    elif version is not None:
        changes: dict[str, Any] = {"last_updated_timestamp": event.timestamp}
        if kind is EventType.MODEL_VERSION_UPDATED:
            changes["description"] = str(after["description"])
        elif kind is EventType.MODEL_VERSION_STAGE_CHANGED:
            changes["current_stage"] = Stage(after["current_stage"])
        elif kind is EventType.MODEL_VERSION_TAG_SET:
            changes["tags"] = {**version.tags, str(after["key"]): str(after["value"])}
        elif kind is EventType.MODEL_VERSION_TAG_DELETED:
            key = str(event.before["key"])
            changes["tags"] = {k: v for k, v in version.tags.items() if k != key}
        state.versions[number] = _replaced(version, **changes)


def _created_version(name: str, event: Event) -> ModelVersion:
    return _version_of(
        name,
        event.version,
        {"creation_timestamp": event.timestamp, **event.after},
        last_updated_timestamp=event.timestamp,
    )


def _version_of(
    name: str, number: int, after: dict[str, Any], last_updated_timestamp: int = 0
) -> ModelVersion:
    """A version from the fields of its created event (``outbox.version_fields``)."""
    return ModelVersion(
        name=name,
        version=number,
        creation_timestamp=int(after["creation_timestamp"]),
        last_updated_timestamp=last_updated_timestamp,
        user_id=str(after.get("user_id", "")),
        current_stage=Stage(after.get("current_stage", Stage.NONE.value)),
        description=str(after.get("description", "")),
        source=str(after.get("source", "")),
        run_id=str(after.get("run_id", "")),
        run_link=str(after.get("run_link", "")),
        experiment_id=str(after.get("experiment_id", "")),
        status=VersionStatus(after.get("status", VersionStatus.READY.value)),
        status_message=str(after.get("status_message", "")),
        tags=dict(after.get("tags", {})),
        model_id=str(after.get("model_id", "")),
        storage_location=str(after.get("storage_location", "")),
    )


def _replaced(version: ModelVersion, **changes: Any) -> ModelVersion:
    return dataclasses.replace(version, **changes)
