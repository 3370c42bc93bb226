"""The two source URI forms the registry interprets: runs:/ and models:/ references."""

from __future__ import annotations

from dataclasses import dataclass

from registry_service.errors import InvalidArgument

# Matched in any case, after trimming, as MLflow's client matches them: "MODELS:/m/1" and
# " models:/m/1" name the same model version as "models:/m/1". A models source names a model
# even without its slash, so that no spelling escapes the READ check on that model.
RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:"


@dataclass(frozen=True)
class ModelReference:
    """A models:/ source: exactly one of version, stage (or "latest") and alias is set."""

    name: str
    version: int | None = None
    stage_or_latest: str | None = None
    alias: str | None = None


def run_id_of(source: str) -> str | None:
    """The run id in a ``runs:/<run_id>/<path>`` source, None for any other source."""
    rest = _after_scheme(source, RUNS_SCHEME)
    if rest is None:
        return None
    run_id = rest.lstrip("/").split("/", 1)[0]
    if not run_id:
        raise InvalidArgument(
            f"source {source!r} has no run id; expected runs:/<run_id>/<path>", field="source"
        )
    return run_id


def model_reference_of(source: str) -> ModelReference | None:
    """The reference in a ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``
    source, None for any other source."""
    after = _after_scheme(source, MODELS_SCHEME)
    if after is None:
        return None
    rest = after.lstrip("/")
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


def _after_scheme(source: str, scheme: str) -> str | None:
    """What follows ``scheme`` in ``source``, None when the source is of another scheme."""
    trimmed = source.strip()
    if trimmed[: len(scheme)].lower() != scheme:
        return None
    return trimmed[len(scheme) :]
