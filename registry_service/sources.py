"""Model version sources: the forms the registry interprets (runs:/, models:/ references to
registered versions and to logged models) and the shapes it refuses, as MLflow's server does.

Pure: nothing here reads the registry or the tracking server (``lineage`` does that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit

from registry_service.errors import InvalidArgument

# Matched in any case, after trimming, as MLflow's client matches them: "MODELS:/m/1" and
# " models:/m/1" name the same model version as "models:/m/1". A models source names a model
# even without its slash, so that no spelling escapes the READ check on that model.
RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:"
# Schemes whose artifact repositories connect to the host the URI names: a registry that stored
# one would send its readers (and a tracking server resolving it) wherever the caller said.
HOST_ADDRESSED_SCHEMES = frozenset(
    {"ftp", "sftp", "hdfs", "viewfs", "http", "https", "mlflow-artifacts", "r2", "b2", "abfss"}
)
# The tracking server's artifact proxy, in an http(s) URL.
_ARTIFACT_ROUTE = ("api", "2.0", "mlflow-artifacts", "artifacts")
# MLflow's prompt registry keeps a prompt's versions as model versions tagged with PROMPT_TAG;
# their source is unused, and MLflow's server accepts only these placeholders as one.
PROMPT_TAG = "mlflow.prompt.is_prompt"
PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})
# A Windows drive ("C:\\models"), which urlsplit takes for a one-letter scheme.
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class ModelReference:
    """A models:/ source naming a registered model's version: exactly one of version, stage (or
    "latest") and alias is set."""

    name: str
    version: int | None = None
    stage_or_latest: str | None = None
    alias: str | None = None


def run_id_of(source: str) -> str | None:
    """The run id in a ``runs:/<run_id>/<path>`` source, None for any other source."""
    rest = _after_scheme(source, RUNS_SCHEME)
    if rest is None:
        return None
    if rest.startswith("/"):
        raise InvalidArgument(
            f"source {source!r} names a host; expected runs:/<run_id>/<path>", field="source"
        )
    run_id = rest.split("/", 1)[0]
    if not run_id:
        raise InvalidArgument(
            f"source {source!r} has no run id; expected runs:/<run_id>/<path>", field="source"
        )
    return run_id


def logged_model_id_of(source: str) -> str | None:
    """The id in a ``models:/<model_id>`` source (MLflow 3's logged model: one part, neither a
    version, a stage nor an alias), None for any other source."""
    rest = _models_path(source)
    if not rest or "/" in rest or "@" in rest:
        return None
    return rest


def model_reference_of(source: str) -> ModelReference | None:
    """The reference in a ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``
    source, None for any other source (a logged model's included)."""
    rest = _models_path(source)
    if rest is None or logged_model_id_of(source) is not None:
        return None
    if "/" in rest:
        name, _, ref = rest.partition("/")
        if name and ref and "/" not in ref:
            if ref.isdigit():
                return ModelReference(name=name, version=int(ref))
            return ModelReference(name=name, stage_or_latest=ref)
    elif "@" in rest:
        name, _, alias = rest.rpartition("@")
        if name and alias:
            return ModelReference(name=name, alias=alias)
    raise InvalidArgument(
        f"source {source!r} is not a model URI; expected models:/<name>/<version|stage>, "
        "models:/<name>@<alias> or models:/<model_id>",
        field="source",
    )


def check_shape(source: str) -> None:
    """Refuse what no source may be, whatever run or model it comes with: a path that climbs
    out of where it points (``..`` or ``.`` in any encoding, a NUL), an object store URI with no
    path (``s3://bucket``), and a models: URI naming another registry's host."""
    decoded = source
    while (unquoted := unquote_plus(decoded)) != decoded:
        decoded = unquoted
    if "\x00" in decoded or any(part in ("..", ".") for part in re.split(r"[/\\]", decoded)):
        raise _invalid(source, "it must not contain relative path references (. or ..)")
    if is_local(source):
        return
    parts = urlsplit(source.strip())
    if parts.scheme.lower() == "models" and parts.netloc:
        raise _invalid(source, "registered model sources must use this registry")
    if parts.netloc and not parts.path.strip("/") and parts.scheme.lower() != "runs":
        raise _invalid(source, "it names no path within its store")


def is_local(source: str) -> bool:
    """Whether the source is a path on the server's own file system: no scheme, a drive, or
    ``file:`` on this host."""
    trimmed = source.strip()
    if _DRIVE.match(trimmed):
        return True
    parts = urlsplit(trimmed)
    scheme = parts.scheme.lower()
    if scheme == "":
        return True
    return scheme == "file" and (parts.hostname or "localhost") in ("localhost", "127.0.0.1")


def host_addressed(source: str) -> bool:
    """Whether reading the source connects to the host it names."""
    parts = urlsplit(source.strip())
    scheme = parts.scheme.lower()
    if scheme == "mlflow-artifacts":
        # mlflow-artifacts:/path is read through the tracking server itself.
        return bool(parts.netloc)
    return scheme in HOST_ADDRESSED_SCHEMES


def in_artifact_store(source: str) -> bool:
    """Whether the source is in a tracking server's artifact store: ``mlflow-artifacts:`` or
    an http(s) URL through its artifact proxy."""
    parts = urlsplit(source.strip())
    scheme = parts.scheme.lower()
    if scheme == "mlflow-artifacts":
        return True
    path = _path_parts(parts.path)
    return scheme in ("http", "https") and any(
        path[start : start + len(_ARTIFACT_ROUTE)] == _ARTIFACT_ROUTE
        for start in range(len(path) - len(_ARTIFACT_ROUTE) + 1)
    )


def within(source: str, root: str) -> bool:
    """Whether ``source`` lies under the artifact location ``root``: the same scheme and host,
    and the root's path a prefix of the source's, part by part."""
    if is_local(source) and is_local(root):
        return _prefix(_path_parts(_local_path(root)), _path_parts(_local_path(source)))
    mine, theirs = urlsplit(source.strip()), urlsplit(root.strip())
    return (
        mine.scheme.lower() == theirs.scheme.lower()
        and mine.netloc.lower() == theirs.netloc.lower()
        and _prefix(_path_parts(theirs.path), _path_parts(mine.path))
    )


def _prefix(root: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return bool(root) and path[: len(root)] == root


def _local_path(source: str) -> str:
    trimmed = source.strip()
    return urlsplit(trimmed).path if trimmed.lower().startswith("file:") else trimmed


def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(unquote_plus(part) for part in path.split("/") if part)


def _invalid(source: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid model version source {source!r}: {why}", field="source")


def _models_path(source: str) -> str | None:
    after = _after_scheme(source, MODELS_SCHEME)
    return None if after is None else after.lstrip("/")


def _after_scheme(source: str, scheme: str) -> str | None:
    """What follows ``scheme`` in ``source``, None when the source is of another scheme."""
    trimmed = source.strip()
    if trimmed[: len(scheme)].lower() != scheme:
        return None
    return trimmed[len(scheme) :]


def is_prompt(tags: Mapping[str, str]) -> bool:
    """Whether a new version's tags make it a prompt version, as MLflow's server decides."""
    return tags.get(PROMPT_TAG, "false").lower() == "true"


def agreeing_id(field: str, given: str, from_source: str | None, source: str) -> str:
    """The id (run_id, model_id) the request gives, or the one its source names; both must
    agree. Both the lineage check and the store, which records a runs:/ source's run, ask here."""
    if from_source is None:
        return given
    if given and given != from_source:
        raise InvalidArgument(
            f"{field} {given!r} contradicts {from_source!r} in source {source!r}", field=field
        )
    return from_source
