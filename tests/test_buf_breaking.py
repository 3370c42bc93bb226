"""protos/buf-breaking.sh (part of `make lint`): protos/ against the previous commit of main.

Each case builds a small git history of the real protos/ in a temporary repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUF = ROOT / ".venv" / "bin" / "buf"
MODEL_VERSION = "protos/modelregistry/v1/model_version.proto"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def breaking(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["protos/buf-breaking.sh", *args],
        cwd=repo,
        env={**os.environ, "BUF": str(BUF)},
        capture_output=True,
        text=True,
    )


@pytest.fixture
def repo(tmp_path: Path, googleapis_module: Path) -> Path:
    """A repository whose main has one commit: today's protos/ with buf.yaml and the script."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "protos", repo / "protos", ignore=shutil.ignore_patterns("third_party"))
    shutil.copytree(googleapis_module, repo / "protos" / "third_party" / "googleapis")
    (repo / ".gitignore").write_text("protos/third_party/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "contract")
    return repo


def unused_number(repo: Path) -> int:
    """A field number ModelVersion does not use yet, so the examples stay valid as it grows."""
    return max(int(n) for n in re.findall(r" = (\d+);", (repo / MODEL_VERSION).read_text())) + 1


def edit(repo: Path, old: str, new: str) -> None:
    path = repo / MODEL_VERSION
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_first_commit_of_main_is_skipped_with_a_reason(repo: Path) -> None:
    result = breaking(repo)
    assert result.returncode == 0, result.stderr
    assert "skipped: main is its first commit" in result.stdout


def test_compatible_change_passes_against_the_previous_commit(repo: Path) -> None:
    (repo / "README").write_text("second commit\n")
    commit_all(repo, "second")
    number = unused_number(repo)
    edit(
        repo,
        "  repeated string aliases = 15;\n",
        f"  repeated string aliases = 15;\n  // A new field.\n  string note = {number};\n",
    )
    result = breaking(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "against main~1" in result.stdout


def test_renumbered_field_is_reported(repo: Path) -> None:
    (repo / "README").write_text("second commit\n")
    commit_all(repo, "second")
    edit(repo, "string run_link = 10;", f"string run_link = {unused_number(repo)};")
    result = breaking(repo)
    assert result.returncode != 0
    assert 'Previously present field "10" with name "run_link"' in result.stdout


def test_breaking_change_already_on_main_is_reported(repo: Path) -> None:
    edit(repo, "string run_id = 9;", "string producing_run_id = 9;")
    commit_all(repo, "rename a field")
    result = breaking(repo)
    assert result.returncode != 0
    assert 'changed name from "run_id" to "producing_run_id"' in result.stdout


def test_shallow_clone_is_skipped_with_a_reason(repo: Path, tmp_path: Path) -> None:
    (repo / "README").write_text("second commit\n")
    commit_all(repo, "second")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    shutil.copytree(repo / "protos" / "third_party", clone / "protos" / "third_party")
    result = breaking(clone)
    assert result.returncode == 0, result.stderr
    assert "not in this shallow clone" in result.stdout


def test_unknown_revision_fails(repo: Path) -> None:
    result = breaking(repo, "no-such-branch")
    assert result.returncode == 2
    assert "no commit no-such-branch" in result.stderr
