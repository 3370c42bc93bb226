"""Export files: whole models with all their versions, to move between registries.

A gzip-compressed tar holding ``manifest.json`` (format name and version, export time, counts)
and then ``models.jsonl`` (one model with all its versions per line). docs/export-format.md is
the specification; a reader refuses a format_version newer than it knows.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from registry_service.operator.records import (
    model_from_json,
    model_json,
    version_from_json,
    version_json,
)
from registry_service.operator.transfer import ModelCopy, TransferError

FORMAT = "modelregistry-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODELS = "models.jsonl"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    # When the export finished, ISO 8601 in UTC.
    exported_at: str
    models: int
    versions: int


def copy_json(copy: ModelCopy) -> dict[str, Any]:
    """One line of models.jsonl: the model, its version counter and its versions."""
    record = model_json(copy.model)
    del record["latest_versions"]  # derived from the versions on import
    record["last_version"] = copy.last_version or max((v.version for v in copy.versions), default=0)
    record["versions"] = []
    for version in copy.versions:
        entry = version_json(version)
        # Every version belongs to the model of its line, and the model's aliases say where
        # each alias points: repeating either per version could only disagree.
        del entry["name"], entry["aliases"]
        record["versions"].append(entry)
    return record


def copy_from_json(record: dict[str, Any]) -> ModelCopy:
    last_version = record.get("last_version", 0)
    if not isinstance(last_version, int):
        raise TypeError(f"last_version must be an integer, got {last_version!r}")
    return ModelCopy(
        model=model_from_json(record),
        versions=[version_from_json(entry) for entry in record.get("versions", [])],
        last_version=last_version,
    )


def write_archive(path: Path, copies: Iterable[ModelCopy]) -> Manifest:
    """Write every model of ``copies`` to ``path``, which appears only once complete."""
    partial = path.with_name(path.name + ".partial")
    models = versions = 0
    try:
        with tempfile.TemporaryFile() as lines:
            for copy in copies:
                line = json.dumps(copy_json(copy), ensure_ascii=False) + "\n"
                lines.write(line.encode("utf-8"))
                models += 1
                versions += len(copy.versions)
            manifest = Manifest(FORMAT_VERSION, _utc_now(), models, versions)
            size = lines.tell()
            lines.seek(0)
            with tarfile.open(partial, "w:gz") as tar:
                manifest_bytes = json.dumps(_manifest_json(manifest), indent=2).encode("utf-8")
                _add_member(tar, MANIFEST, io.BytesIO(manifest_bytes), len(manifest_bytes))
                _add_member(tar, MODELS, lines, size)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise TransferError(f"cannot write {path}: {error.strerror or error}") from error
    return manifest


def read_manifest(path: Path) -> Manifest:
    with _member(path, MANIFEST) as file:
        try:
            record = json.load(file)
            manifest = Manifest(
                format_version=record["format_version"],
                exported_at=record["exported_at"],
                models=record["counts"]["models"],
                versions=record["counts"]["versions"],
            )
        except (ValueError, KeyError, TypeError) as error:
            raise TransferError(f"{path}: {MANIFEST} is malformed: {error!r}") from error
    if record.get("format") != FORMAT:
        raise TransferError(f"{path} is not a registry export (format {record.get('format')!r})")
    if not isinstance(manifest.format_version, int) or manifest.format_version > FORMAT_VERSION:
        raise TransferError(
            f"{path} has format_version {manifest.format_version!r}; this CLI reads up to "
            f"{FORMAT_VERSION}: upgrade registry-service to import it"
        )
    return manifest


def read_copies(path: Path) -> Iterator[ModelCopy]:
    """Every model of the file in order; a malformed line stops the reading, naming the line."""
    with _member(path, MODELS) as file:
        for number, line in enumerate(file, start=1):
            try:
                yield copy_from_json(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise TransferError(
                    f"{path}: {MODELS} line {number} is malformed: {error}"
                ) from error


def _manifest_json(manifest: Manifest) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": manifest.format_version,
        "exported_at": manifest.exported_at,
        "counts": {"models": manifest.models, "versions": manifest.versions},
    }


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _add_member(tar: tarfile.TarFile, name: str, content: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, content)


@contextmanager
def _member(path: Path, name: str) -> Iterator[IO[str]]:
    """One member of the archive as text, read straight from the compressed stream."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            try:
                member = tar.extractfile(name)
            except KeyError:
                member = None
            if member is None:
                raise TransferError(f"{path} has no {name}: it is not a registry export")
            with io.TextIOWrapper(member, encoding="utf-8") as text:
                yield text
    except (OSError, EOFError, tarfile.TarError, zlib.error, UnicodeDecodeError) as error:
        raise TransferError(f"cannot read {path}: {error}") from error
