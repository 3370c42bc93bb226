"""Every file and code name the docs cite exists: links and their anchors, backticked paths
(`registry_service/…`, `tests/…`, `store/engine.py`), the names a path is cited with
(`store/engine.py` (`LoneReads`)), dotted Python names, `make` targets, `--flags` of the
commands, and `REGISTRY_*` variables. A failure lists each doc and line citing a missing name,
so a rename elsewhere is caught where the docs still use the old name."""

from __future__ import annotations

import functools
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import click

from registry_service.config import Settings, env_name, flag_name
from registry_service.operator.commands import main as registry_cli

from .processes import CLI, ROOT

# docs/api.md is written from the protos by `make docs` and checked by test_api_reference.py.
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "api.md")]

# Paths that docs cite relative to the package, as the code's own comments do.
PACKAGE = ROOT / "registry_service"

# Flags of other programs that docs show beside ours, with the program they belong to.
FOREIGN_FLAGS = {
    "--schema": "buf curl",
    "--time": "podman stop",
    "--runtime": "podman",
    "--ulimit": "podman",
    "--no-cache": "podman build",
    "--network": "podman run",
    "--registry-store-uri": "mlflow server",
}

# `registry-service` commands whose --help lists their flags.
SERVER_COMMANDS = [["serve"], ["db", "upgrade"], ["auth", "create-token"], ["health"]]
# Programs of the repository that docs cite flags of, run as `python -m MODULE --help`.
HELPED_MODULES = [
    "bench.api",
    "bench.run",
    "bench.soak",
    "bench.floors",
    "bench.echo",
    "bench.watch",
]
HELPED_SCRIPTS = ["deploy/image.py"]

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PATH = re.compile(r"^\.?[\w.-]+(/[\w.-]+)*/?$")
SUFFIXES = (".py", ".md", ".proto", ".yaml", ".yml", ".toml", ".js", ".json", ".sh", ".txt")
TOP_DIRS = ("registry_service/", "tests/", "docs/", "bench/", "deploy/", "protos/", "generated/")
# "`store/engine.py` (`LoneReads`, `call_bounds`)": names cited as living in that file.
CITED_IN = re.compile(r"`([\w./-]+\.py)` \(((?:`[\w.]+`(?:, )?)+)\)")
DOTTED = re.compile(r"^(registry_service|bench|tests)(\.\w+)+$")
MAKE = re.compile(r"\bmake ([a-z][\w-]*)")
FLAG = re.compile(r"^(--[a-z0-9][a-z0-9-]*)")
VARIABLE = re.compile(r"\bREGISTRY_[A-Z0-9_]*[A-Z0-9]\b")


@dataclass(frozen=True)
class Citation:
    doc: Path
    line: int
    name: str

    def missing(self, why: str) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}: `{self.name}` {why}"


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def inline_code(doc: Path) -> Iterator[Citation]:
    """The backticked spans of prose, fenced blocks left out (they are examples)."""
    text = doc.read_text()
    prose = FENCE.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    for match in INLINE_CODE.finditer(prose):
        yield Citation(doc, line_of(prose, match.start()), match.group(1).strip())


def shell_lines(doc: Path) -> Iterator[Citation]:
    """The lines of fenced blocks, where `make` targets are shown being run."""
    text = doc.read_text()
    for block in FENCE.finditer(text):
        first = line_of(text, block.start())
        for number, line in enumerate(block.group(0).splitlines()):
            yield Citation(doc, first + number, line)


def looks_like_path(span: str) -> bool:
    """A path in the repository (`store/engine.py`, `tests/`), or a module by its file name
    (`logs.py`). Other bare file names (`manifest.json`, `buf.gen.yaml`) name files of an
    archive or of the reader's own, not of the repository."""
    if not PATH.match(span) or span.startswith(("-", ".venv")) or "//" in span:
        return False
    if "/" not in span:
        return span.endswith(".py")
    return span.startswith((*TOP_DIRS, ".ci/")) or span.endswith(SUFFIXES)


@functools.cache
def tracked_names() -> frozenset[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return frozenset(Path(line).name for line in listed.splitlines())


def resolve(span: str, doc: Path) -> Path | None:
    for base in (ROOT, PACKAGE, doc.parent):
        if (base / span).exists():
            return base / span
    return None


def exists(span: str, doc: Path) -> bool:
    if "/" not in span:
        return span in tracked_names() or resolve(span, doc) is not None
    return resolve(span, doc) is not None


def ignored(span: str) -> bool:
    """Made by running something (a benchmark's data, generated clients), never committed."""
    result = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", span], cwd=ROOT, capture_output=True
    )
    return result.returncode == 0


def test_every_cited_path_exists() -> None:
    missing = [
        citation.missing("is not a file or folder of the repository")
        for doc in DOCS
        for citation in inline_code(doc)
        if looks_like_path(citation.name)
        and not exists(citation.name, doc)
        and not ignored(citation.name)
    ]
    assert not missing, "\n".join(missing)


def test_every_link_points_at_a_file_and_heading_that_exist() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for match in LINK.finditer(text):
            target = match.group(1)
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            citation = Citation(doc, line_of(text, match.start()), target)
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            if not linked.exists():
                missing.append(citation.missing("links to a file that does not exist"))
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                missing.append(citation.missing(f"links to a heading {linked.name} lacks"))
    assert not missing, "\n".join(missing)


@functools.cache
def anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", doc.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_names_cited_with_their_file_are_in_it() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for match in CITED_IN.finditer(text):
            path = resolve(match.group(1), doc)
            if path is None:
                continue  # test_every_cited_path_exists names it
            source = path.read_text()
            for name in re.findall(r"`([\w.]+)`", match.group(2)):
                if not re.search(rf"\b{re.escape(name.split('.')[-1])}\b", source):
                    citation = Citation(doc, line_of(text, match.start()), name)
                    missing.append(citation.missing(f"is not in {match.group(1)}"))
    assert not missing, "\n".join(missing)


def test_every_dotted_python_name_imports() -> None:
    missing = []
    for doc in DOCS:
        for citation in inline_code(doc):
            name = citation.name
            if DOTTED.match(name) and not importable(name) and not logger(name):
                missing.append(citation.missing("neither imports nor names a logger"))
    assert not missing, "\n".join(missing)


def importable(dotted: str) -> bool:
    """A module, or an attribute of the longest importable module prefix."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def logger(name: str) -> bool:
    """A logger the code names, such as the access log's `registry_service.access`."""
    quoted = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(quoted.search(path.read_text()) for path in PACKAGE.glob("**/*.py"))


def test_every_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    cited = [
        (citation, target)
        for doc in DOCS
        for citation in [*inline_code(doc), *shell_lines(doc)]
        for target in MAKE.findall(citation.name)
    ]
    missing = [
        Citation(citation.doc, citation.line, f"make {target}").missing("is not a Makefile target")
        for citation, target in cited
        if target not in targets
    ]
    assert cited and not missing, "\n".join(missing)


@functools.cache
def known_flags() -> frozenset[str]:
    """Every flag our programs take, from their own --help (whatever library parses them)."""
    helps = [[*CLI, *command, "--help"] for command in SERVER_COMMANDS]
    helps += [[sys.executable, "-m", module, "--help"] for module in HELPED_MODULES]
    helps += [[sys.executable, script, "--help"] for script in HELPED_SCRIPTS]
    # All at once: each is a Python start-up that imports most of the package.
    running = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in helps
    ]
    flags: set[str] = set()
    for command, process in zip(helps, running, strict=True):
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, (command, stderr)
        flags.update(re.findall(r"--[a-z0-9][a-z0-9-]*", stdout))
    flags.update(registry_flags(registry_cli))
    return frozenset(flags)


def registry_flags(command: click.Command) -> set[str]:
    flags = {
        option
        for parameter in command.params
        if isinstance(parameter, click.Option)
        for option in [*parameter.opts, *parameter.secondary_opts]
    }
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            flags |= registry_flags(sub)
    return flags


def test_every_flag_is_taken_by_a_command() -> None:
    known = known_flags()
    missing = [
        citation.missing("is no flag of registry-service, registry, bench or deploy")
        for doc in DOCS
        for citation in inline_code(doc)
        if (match := FLAG.match(citation.name))
        and match.group(1) not in known
        and match.group(1) not in FOREIGN_FLAGS
    ]
    assert not missing, "\n".join(missing)


def test_the_settings_flags_are_what_serve_takes() -> None:
    """The check above leans on --help; make sure it sees the settings' flags at all."""
    assert {flag_name(setting) for setting in fields(Settings)} <= known_flags()


def test_every_registry_variable_is_read_by_the_code() -> None:
    code = [
        *ROOT.glob("registry_service/**/*.py"),
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("bench/*.py"),
        *ROOT.glob("deploy/**/*"),
        *ROOT.glob(".ci/*"),
        ROOT / "Makefile",
    ]
    known = {env_name(setting) for setting in fields(Settings)}
    for path in code:
        if path.is_file():
            known.update(VARIABLE.findall(path.read_text(errors="replace")))
    missing = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            for name in VARIABLE.findall(line):
                if name not in known:
                    missing.append(Citation(doc, number, name).missing("is read nowhere"))
    assert not missing, "\n".join(missing)
