"""`registry models restore|deleted` and `registry versions restore|deleted`: restore after delete,
within the server's --deleted-retention (docs/operations.md, "Restore after delete")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from modelregistry.v1 import trash_pb2

from registry_service.operator.options import Options, pass_options, show
from registry_service.operator.output import (
    millis_text,
    model_details,
    table,
    version_details,
)
from registry_service.operator.records import model_json, version_json


@click.command("restore")
@click.argument("name")
@click.option("--new-name", default="", help="Restore under this name (the old one is taken).")
@pass_options
def models_restore(options: Options, name: str, new_name: str) -> None:
    """Restore the deleted model NAME with its versions, tags, aliases and permissions."""
    with options.client() as client:
        model = client.restore_registered_model(name, new_name)
    show(options, model_json(model), model_details(model))


@click.command("deleted")
@pass_options
def models_deleted(options: Options) -> None:
    """List deleted models that can still be restored, most recently deleted first."""
    with options.client() as client:
        found = client.list_deleted_registered_models()
    show(options, [deleted_model_json(d) for d in found], deleted_models_table(found))


@click.command("restore")
@click.argument("name")
@click.argument("version", type=int)
@pass_options
def versions_restore(options: Options, name: str, version: int) -> None:
    """Restore the deleted VERSION of model NAME, under its old number."""
    with options.client() as client:
        restored = client.restore_model_version(name, version)
    show(options, version_json(restored), version_details(restored))


@click.command("deleted")
@click.argument("name")
@pass_options
def versions_deleted(options: Options, name: str) -> None:
    """List the deleted versions of model NAME that can still be restored."""
    with options.client() as client:
        found = client.list_deleted_model_versions(name)
    rows = [
        [
            str(d.model_version.version),
            d.model_version.current_stage,
            d.deleted_by,
            millis_text(d.deletion_timestamp),
            millis_text(d.purge_timestamp),
        ]
        for d in found
    ]
    text = (
        table(["VERSION", "STAGE", "DELETED BY", "DELETED", "PURGED AFTER"], rows)
        if rows
        else f"no deleted versions of {name}"
    )
    show(options, [deleted_version_json(d) for d in found], text)


def deleted_model_json(deleted: trash_pb2.DeletedRegisteredModel) -> dict[str, Any]:
    return {
        "registered_model": model_json(deleted.registered_model),
        "deletion_timestamp": deleted.deletion_timestamp,
        "deleted_by": deleted.deleted_by,
        "version_count": deleted.version_count,
        "purge_timestamp": deleted.purge_timestamp,
    }


def deleted_version_json(deleted: trash_pb2.DeletedModelVersion) -> dict[str, Any]:
    return {
        "model_version": version_json(deleted.model_version),
        "deletion_timestamp": deleted.deletion_timestamp,
        "deleted_by": deleted.deleted_by,
        "purge_timestamp": deleted.purge_timestamp,
    }


def deleted_models_table(found: Sequence[trash_pb2.DeletedRegisteredModel]) -> str:
    if not found:
        return "no deleted registered models"
    rows = [
        [
            d.registered_model.name,
            str(d.version_count),
            d.deleted_by,
            millis_text(d.deletion_timestamp),
            millis_text(d.purge_timestamp),
        ]
        for d in found
    ]
    return table(["NAME", "VERSIONS", "DELETED BY", "DELETED", "PURGED AFTER"], rows)
