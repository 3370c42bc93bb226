"""The two source URI forms the registry interprets: runs:/ and models:/ references."""

from __future__ import annotations

from dataclasses import dataclass

from registry_service.errors import InvalidArgument

RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:/"


@dataclass(frozen=True)
class ModelReference:
    """A models:/ source: exactly one of version, stage (or "latest") and alias is set."""

    name: str
    version: int | None = None
    stage_or_latest: str | None = None
    alias: str | None = None


def run_id_of(source: str) -> str | None:
    """The run id in a ``runs:/<run_id>/<path>`` source, None for any other source."""
    if not source.startswith(RUNS_SCHEME):
        return None
    run_id = source[len(RUNS_SCHEME) :].lstrip("/").split("/", 1)[0]
    if not run_id:
        raise InvalidArgument(
            f"source {source!r} has no run id; expected runs:/<run_id>/<path>", field="source"
        )
    return run_id


def model_reference_of(source: str) -> ModelReference | None:
    """The reference in a ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``
    source, None for any other source."""
    if not source.startswith(MODELS_SCHEME):
        return None
    rest = source[len(MODELS_SCHEME) :].lstrip("/")
    if "/" in rest:
        name, _, ref = rest.partition("/")
        if ref and "/" not in ref:
            if ref.isdigit():
                return ModelReference(name=name, version=int(ref))
            return ModelReference(name=name, stage_or_latest=ref)
    elif "@" in rest:
        name, _, alias = rest.rpartition("@")
        if name and alias:
            return ModelReference(name=name, alias=alias)
    raise InvalidArgument(
        f"source {source!r} is not a model URI; expected models:/<name>/<version|stage> "
        "or models:/<name>@<alias>",
        field="source",
    )
