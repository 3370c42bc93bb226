"""`registry`: the operator CLI, over RegistryClient only (it never opens the database).

    registry [--target HOST:PORT] [--json] [--quiet] COMMAND ...

Exit codes: 0 success; 1 the registry refused the request (not found, invalid, already exists,
unavailable), a source could not be read, or an import left a model failed; 2 a usage error.
Errors go to stderr and name the request field at fault.

Longer than this package's ~600-line guide on purpose: one short click command per verb of models,
versions, migration and access, read as one table of what `registry` does; events and webhooks
have their own modules (event_commands, webhook_commands), and what a command does beyond calling
the client lives beside it (output, records, reading, archive, transfer, mlflow_import).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any, TypeVar

import click
from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel

from registry_service.client import DEFAULT_TARGET, RegistryClient
from registry_service.errors import RegistryError
from registry_service.operator.archive import read_copies, read_manifest, write_archive
from registry_service.operator.event_commands import events
from registry_service.operator.mlflow_import import DEFAULT_PAGE_SIZE, MlflowSource, copy_model
from registry_service.operator.options import Options, pass_options, show
from registry_service.operator.output import (
    access_tokens_table,
    counted,
    model_details,
    models_table,
    permissions_table,
    summary_json,
    summary_text,
    version_details,
    versions_table,
)
from registry_service.operator.reading import (
    copy_of,
    filter_literal,
    model_exists,
    models_to_export,
)
from registry_service.operator.records import (
    access_token_json,
    model_json,
    permission_json,
    version_json,
)
from registry_service.operator.request_commands import requests
from registry_service.operator.restore_commands import (
    models_deleted,
    models_restore,
    versions_deleted,
    versions_restore,
)
from registry_service.operator.transfer import Summary, TransferError, error_text, import_copy
from registry_service.operator.webhook_commands import webhooks

T = TypeVar("T")

# How many names a refused `import --on-conflict fail` lists before "and N more".
LISTED_CLASHES = 10


class RegistryGroup(click.Group):
    """Reports what an operator can cause (a refused request, an unreadable source) as one line
    on stderr and exit code 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RegistryError as error:
            code = f" [{error.code.name}]" if error.code is not None else ""
            raise click.ClickException(error_text(error) + code) from error
        except TransferError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=RegistryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--target",
    envvar="REGISTRY_TARGET",
    default=DEFAULT_TARGET,
    show_default=True,
    metavar="HOST:PORT",
    help="Registry server to talk to (REGISTRY_TARGET).",
)
@click.option(
    "--token",
    envvar="REGISTRY_TOKEN",
    help="Access token for servers run with --auth token (REGISTRY_TOKEN).",
)
@click.option(
    "--tls-ca",
    envvar="REGISTRY_TLS_CA",
    metavar="PEM",
    help="Talk TLS, trusting this CA for the server's certificate; '' for the system's roots "
    "(REGISTRY_TLS_CA).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.option("--quiet", is_flag=True, help="Show no progress bars.")
@click.pass_context
def main(
    ctx: click.Context,
    target: str,
    token: str | None,
    tls_ca: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Operate a model registry: models, versions, aliases, tags, search, migration from MLflow,
    export and import, events, webhooks, access tokens and permissions."""
    ctx.obj = Options(target=target, as_json=as_json, quiet=quiet, token=token, tls_ca=tls_ca)


# -- output ------------------------------------------------------------------------------------


def show_model(options: Options, model: RegisteredModel) -> None:
    show(options, model_json(model), model_details(model))


def show_version(options: Options, version: ModelVersion) -> None:
    show(options, version_json(version), version_details(version))


def progress(
    options: Options, items: Iterable[T], label: str, length: int | None = None
) -> AbstractContextManager[Iterable[T]]:
    """A progress bar on stderr (stdout stays clean for --json), hidden by --quiet."""
    return click.progressbar(
        items, length=length, label=label, file=sys.stderr, hidden=options.quiet
    )


def finish_import(options: Options, summary: Summary) -> None:
    show(options, summary_json(summary), summary_text(summary))
    if summary.failed:
        click.get_current_context().exit(1)


def parse_tags(
    _ctx: click.Context, _param: click.Parameter, items: Sequence[str]
) -> dict[str, str]:
    tags = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        tags[key] = value
    return tags


tag_option = click.option(
    "--tag", "tags", multiple=True, callback=parse_tags, metavar="KEY=VALUE", help="Repeatable."
)
version_argument = click.argument("version", type=int)


def list_models(
    options: Options, filter_string: str, order_by: Sequence[str], max_results: int | None
) -> None:
    with options.client() as client:
        models = client.search_registered_models(filter_string, order_by, max_results)
    show(options, [model_json(m) for m in models], models_table(models))


def list_versions(
    options: Options, filter_string: str, order_by: Sequence[str], max_results: int | None
) -> None:
    with options.client() as client:
        versions = client.search_model_versions(filter_string, order_by, max_results)
    show(options, [version_json(v) for v in versions], versions_table(versions))


def search_options(command: Any) -> Any:
    command = click.option(
        "--order-by", multiple=True, help='Repeatable, e.g. "last_updated_timestamp DESC".'
    )(command)
    return click.option("--max-results", type=click.IntRange(min=1), help="Stop after N.")(command)


# -- models ------------------------------------------------------------------------------------


@main.group()
def models() -> None:
    """Registered models."""


@models.command("list")
@click.option(
    "--filter", "filter_string", default="", help="MLflow filter, e.g. \"name LIKE 'f%'\"."
)
@search_options
@pass_options
def models_list(
    options: Options, filter_string: str, order_by: tuple[str, ...], max_results: int | None
) -> None:
    """List registered models."""
    list_models(options, filter_string, order_by, max_results)


@models.command("get")
@click.argument("name")
@pass_options
def models_get(options: Options, name: str) -> None:
    """Show one registered model."""
    with options.client() as client:
        model = client.get_registered_model(name)
    show_model(options, model)


@models.command("create")
@click.argument("name")
@click.option("--description", default="")
@tag_option
@pass_options
def models_create(options: Options, name: str, description: str, tags: dict[str, str]) -> None:
    """Create a registered model."""
    with options.client() as client:
        model = client.create_registered_model(name, tags=tags, description=description)
    show_model(options, model)


@models.command("rename")
@click.argument("name")
@click.argument("new_name")
@pass_options
def models_rename(options: Options, name: str, new_name: str) -> None:
    """Rename a registered model, with its versions, tags and aliases."""
    with options.client() as client:
        model = client.rename_registered_model(name, new_name)
    show_model(options, model)


@models.command("delete")
@click.argument("name")
@pass_options
def models_delete(options: Options, name: str) -> None:
    """Delete a registered model and everything under it."""
    with options.client() as client:
        client.delete_registered_model(name)
    show(options, {"name": name, "deleted": True}, f"deleted registered model {name!r}")


# -- versions ----------------------------------------------------------------------------------


@main.group()
def versions() -> None:
    """Model versions."""


@versions.command("list")
@click.argument("name")
@search_options
@pass_options
def versions_list(
    options: Options, name: str, order_by: tuple[str, ...], max_results: int | None
) -> None:
    """List the versions of one model, newest first."""
    with options.client() as client:
        client.get_registered_model(name)  # a missing model is an error, not an empty list
    filter_string = f"name = {filter_literal(name)}"
    list_versions(options, filter_string, order_by or ["version_number DESC"], max_results)


@versions.command("get")
@click.argument("name")
@version_argument
@pass_options
def versions_get(options: Options, name: str, version: int) -> None:
    """Show one model version."""
    with options.client() as client:
        found = client.get_model_version(name, version)
    show_version(options, found)


@versions.command("create")
@click.argument("name")
@click.argument("source")
@click.option("--run-id", default="")
@click.option("--run-link", default="")
@click.option("--experiment-id", default="")
@click.option("--description", default="")
@tag_option
@pass_options
def versions_create(
    options: Options,
    name: str,
    source: str,
    run_id: str,
    run_link: str,
    experiment_id: str,
    description: str,
    tags: dict[str, str],
) -> None:
    """Create the next version of a model from SOURCE (e.g. runs:/<run_id>/model)."""
    with options.client() as client:
        created = client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            run_link=run_link,
            description=description,
            experiment_id=experiment_id,
        )
    show_version(options, created)


@versions.command("transition")
@click.argument("name")
@version_argument
@click.argument("stage")
@click.option(
    "--archive-existing-versions",
    is_flag=True,
    help="Move the versions already in STAGE (Staging or Production) to Archived.",
)
@pass_options
def versions_transition(
    options: Options, name: str, version: int, stage: str, archive_existing_versions: bool
) -> None:
    """Move a version to STAGE: None, Staging, Production or Archived."""
    with options.client() as client:
        moved = client.transition_model_version_stage(
            name, version, stage, archive_existing_versions=archive_existing_versions
        )
    show_version(options, moved)


@versions.command("delete")
@click.argument("name")
@version_argument
@pass_options
def versions_delete(options: Options, name: str, version: int) -> None:
    """Delete a model version; its number is never reused."""
    with options.client() as client:
        client.delete_model_version(name, version)
    show(
        options,
        {"name": name, "version": version, "deleted": True},
        f"deleted version {version} of {name!r}",
    )


# -- aliases and tags --------------------------------------------------------------------------


@main.group()
def aliases() -> None:
    """Aliases of registered models (e.g. champion)."""


@aliases.command("set")
@click.argument("name")
@click.argument("alias")
@version_argument
@pass_options
def aliases_set(options: Options, name: str, alias: str, version: int) -> None:
    """Point ALIAS of model NAME at VERSION."""
    with options.client() as client:
        client.set_registered_model_alias(name, alias, version)
    show(
        options,
        {"name": name, "alias": alias, "version": version},
        f"{name}@{alias} -> version {version}",
    )


@aliases.command("delete")
@click.argument("name")
@click.argument("alias")
@pass_options
def aliases_delete(options: Options, name: str, alias: str) -> None:
    """Delete ALIAS of model NAME."""
    with options.client() as client:
        client.delete_registered_model_alias(name, alias)
    show(options, {"name": name, "alias": alias, "deleted": True}, f"deleted {name}@{alias}")


@main.group()
def tags() -> None:
    """Tags of registered models, or of one version with --version."""


@tags.command("set")
@click.argument("name")
@click.argument("key")
@click.argument("value")
@click.option("--version", type=int, help="Tag this version instead of the model.")
@pass_options
def tags_set(options: Options, name: str, key: str, value: str, version: int | None) -> None:
    """Set tag KEY=VALUE on model NAME (or one of its versions)."""
    with options.client() as client:
        if version is None:
            client.set_registered_model_tag(name, key, value)
        else:
            client.set_model_version_tag(name, version, key, value)
    where = name if version is None else f"{name} version {version}"
    show(
        options,
        {"name": name, "version": version, "key": key, "value": value},
        f"set {key}={value} on {where}",
    )


@tags.command("delete")
@click.argument("name")
@click.argument("key")
@click.option("--version", type=int, help="Untag this version instead of the model.")
@pass_options
def tags_delete(options: Options, name: str, key: str, version: int | None) -> None:
    """Delete tag KEY from model NAME (or one of its versions)."""
    with options.client() as client:
        if version is None:
            client.delete_registered_model_tag(name, key)
        else:
            client.delete_model_version_tag(name, version, key)
    where = name if version is None else f"{name} version {version}"
    show(
        options,
        {"name": name, "version": version, "key": key, "deleted": True},
        f"deleted tag {key} from {where}",
    )


# -- search ------------------------------------------------------------------------------------


@main.command("search")
@click.argument("filter_string", metavar="FILTER", default="")
@click.option("--versions", "of_versions", is_flag=True, help="Search versions, not models.")
@search_options
@pass_options
def search(
    options: Options,
    filter_string: str,
    of_versions: bool,
    order_by: tuple[str, ...],
    max_results: int | None,
) -> None:
    """Search models (or versions) with an MLflow filter, e.g. "tag.team = 'risk'"."""
    listing = list_versions if of_versions else list_models
    listing(options, filter_string, order_by, max_results)


# -- moving models between registries ----------------------------------------------------------


@main.command("import-mlflow")
@click.option(
    "--from", "url", required=True, metavar="URL", help="MLflow server, e.g. http://mlflow:5000."
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    help="Records per MLflow request.",
)
@pass_options
def import_mlflow(options: Options, url: str, page_size: int) -> None:
    """Copy every registered model of an MLflow server, with its versions (numbers kept),
    stages, aliases, tags, descriptions and timestamps. Re-running skips the models already
    here and copies the rest."""
    summary = Summary()
    with closing(MlflowSource(url, page_size)) as source, options.client() as client:
        found = source.registered_models()
        with progress(options, found, "copying from MLflow") as bar:
            summary.outcomes.extend(copy_model(client, source, model) for model in bar)
    finish_import(options, summary)


@main.command("export")
@click.option("--model", "names", multiple=True, metavar="NAME", help="Repeatable; default all.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (.tar.gz).",
)
@pass_options
def export(options: Options, names: tuple[str, ...], output: Path) -> None:
    """Write models with all their versions to an export file (docs/export-format.md)."""
    with options.client() as client:
        selected = models_to_export(client, names)
        with progress(options, selected, "exporting") as bar:
            manifest = write_archive(output, (copy_of(client, model) for model in bar))
    show(
        options,
        {"file": str(output), "models": manifest.models, "versions": manifest.versions},
        f"exported {counted(manifest.models, 'model')} with "
        f"{counted(manifest.versions, 'version')} to {output}",
    )


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--on-conflict",
    type=click.Choice(["fail", "skip", "rename"]),
    default="fail",
    show_default=True,
    help="When a model's name is taken: import nothing, leave the existing model, or import "
    'as "<name>-imported".',
)
@pass_options
def import_file(options: Options, file: Path, on_conflict: str) -> None:
    """Import an export file: each model whole, with its version numbers and timestamps."""
    manifest = read_manifest(file)
    # Reading every line first means a damaged file is refused before anything is imported.
    names = [copy.model.name for copy in read_copies(file)]
    summary = Summary()
    with options.client() as client:
        if on_conflict == "fail":
            refuse_clashes(client, file, names)
        copies = read_copies(file)
        with progress(options, copies, "importing", length=manifest.models) as bar:
            summary.outcomes.extend(import_copy(client, copy, on_conflict) for copy in bar)
    finish_import(options, summary)


def refuse_clashes(client: RegistryClient, file: Path, names: Sequence[str]) -> None:
    """Under --on-conflict fail, import nothing when any model of the file already exists."""
    taken = [name for name in names if model_exists(client, name)]
    if taken:
        listed = ", ".join(taken[:LISTED_CLASHES])
        more = f" and {len(taken) - LISTED_CLASHES} more" if len(taken) > LISTED_CLASHES else ""
        raise click.ClickException(
            f"registered_model.name: {counted(len(taken), 'model')} of {file} already "
            f"here: {listed}{more}. Nothing was imported; --on-conflict skip or rename imports "
            "the rest."
        )


# -- access ------------------------------------------------------------------------------------


@main.command("whoami")
@pass_options
def whoami(options: Options) -> None:
    """Show who the server takes you to be."""
    with options.client() as client:
        caller = client.get_current_identity()
    role = "admin" if caller.admin else "user"
    show(options, {"user_id": caller.user_id, "admin": caller.admin}, f"{caller.user_id} ({role})")


@main.group()
def tokens() -> None:
    """Access tokens (admins only)."""


@tokens.command("create")
@click.argument("user_id")
@click.option("--admin", is_flag=True, help="Calls made with the token are admin calls.")
@click.option("--description", default="")
@click.option(
    "--expires-in",
    type=click.IntRange(min=0),
    default=0,
    help="Seconds until the token stops working; 0: the server's --token-max-ttl, or never.",
)
@pass_options
def tokens_create(
    options: Options, user_id: str, admin: bool, description: str, expires_in: int
) -> None:
    """Create a token for USER_ID and print its secret, which is shown only this once."""
    with options.client() as client:
        created = client.create_access_token(
            user_id, admin=admin, description=description, expires_in=expires_in
        )
    data = {**access_token_json(created.access_token), "token": created.token}
    show(options, data, created.token)


@tokens.command("list")
@click.option("--user", "user_id", default="", help="Only this user's tokens.")
@pass_options
def tokens_list(options: Options, user_id: str) -> None:
    """List tokens (never their secrets)."""
    with options.client() as client:
        found = client.list_access_tokens(user_id)
    show(options, [access_token_json(t) for t in found], access_tokens_table(found))


@tokens.command("revoke")
@click.argument("token_id", type=int)
@pass_options
def tokens_revoke(options: Options, token_id: int) -> None:
    """Revoke a token: the next call made with it is refused."""
    with options.client() as client:
        client.revoke_access_token(token_id)
    show(options, {"revoked": token_id}, f"revoked token {token_id}")


@main.group()
def permissions() -> None:
    """Per-model permissions (MANAGE on the model, or admin)."""


@permissions.command("grant")
@click.argument("name")
@click.argument("user_id")
@click.argument("permission", type=click.Choice(["READ", "EDIT", "MANAGE"], case_sensitive=False))
@pass_options
def permissions_grant(options: Options, name: str, user_id: str, permission: str) -> None:
    """Give USER_ID PERMISSION on model NAME, replacing what it had."""
    with options.client() as client:
        granted = client.set_registered_model_permission(name, user_id, permission)
    show(options, permission_json(granted), f"{user_id} has {permission.upper()} on {name}")


@permissions.command("list")
@click.argument("name")
@pass_options
def permissions_list(options: Options, name: str) -> None:
    """List the permissions granted on model NAME."""
    with options.client() as client:
        found = client.get_registered_model_permissions(name)
    show(options, [permission_json(p) for p in found], permissions_table(found))


@permissions.command("revoke")
@click.argument("name")
@click.argument("user_id")
@pass_options
def permissions_revoke(options: Options, name: str, user_id: str) -> None:
    """Remove USER_ID's permission on model NAME."""
    with options.client() as client:
        client.delete_registered_model_permission(name, user_id)
    show(options, {"name": name, "user_id": user_id}, f"{user_id} has no grant on {name}")


# -- events and webhooks (their own modules) ---------------------------------------------------

main.add_command(events)
main.add_command(webhooks)
main.add_command(requests)
# Restore after delete (restore_commands).
models.add_command(models_restore)
models.add_command(models_deleted)
versions.add_command(versions_restore)
versions.add_command(versions_deleted)
