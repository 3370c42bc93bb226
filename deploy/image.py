"""Build the registry's container image with podman, offline: `make image`, and the smoke test.

    python deploy/image.py [--base-image IMAGE] [--report FILE]

1. The base. Where no container registry answers (as on this project's machines), a minimal
   Debian made by mmdebstrap from this host's apt sources, of the host's own release: its
   python3 with the venv module, and libstdc++ (which manylinux wheels such as grpcio's assume).
   `--base-image` takes any other base instead (pulled as usual), e.g. python:3.11-slim.
2. The wheelhouse (wheelhouse/, in the build context): pip downloads the wheels of the project's
   dependencies and its `postgres` extra for the base's own interpreter (its Python version,
   glibc and machine, asked of the base itself, so a host on another Python still fetches the
   right ones), at the versions installed in .venv, which are those the tests ran.
3. The image: Containerfile, built from the wheelhouse with no network, tagged
   localhost/registry-service:latest and :<hash of everything it is made of>.

Each step is skipped while its result, named by a hash of its inputs, exists: a second build
of the same source takes seconds. Prints, and with --report writes, a JSON summary: the tags,
which steps ran, their seconds and the image's size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/registry-service"
LOCAL_BASE = "localhost/registry-service-base"
WHEELHOUSE = ROOT / "wheelhouse"
# What the build context holds besides the wheelhouse: the entries .dockerignore lets through.
CONTEXT = ("pyproject.toml", "README.md", "registry_service", "generated")
BASE_PACKAGES = ("python3-venv", "libstdc++6")
MMDEBSTRAP_OPTIONS = (
    # Only the Essential packages and BASE_PACKAGES: no apt, nothing to update in place.
    "--variant=essential",
    # /usr merged by mmdebstrap itself, not by the usrmerge package, which pulls in perl.
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    # No documentation, manual pages or translations; the licences stay.
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
# The base's interpreter, as pip needs it to choose wheels for it.
INTERPRETER = (
    "import json, os, platform, sys; print(json.dumps({"
    "'python': '%d.%d' % sys.version_info[:2], "
    "'glibc': os.confstr('CS_GNU_LIBC_VERSION'), 'machine': platform.machine()}))"
)
# manylinux's older names and the glibc minor version each stands for.
LEGACY_MANYLINUX = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}


class BuildError(Exception):
    """A step failed; the message says which and how."""


@dataclass
class Report:
    image: str = ""
    base: str = ""
    size_bytes: int = 0
    # Which steps ran (False: their result existed and was reused) and their seconds.
    built: dict[str, bool] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def podman(
    *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """podman with runc where it is installed: crun refuses a hybrid cgroup setup such as this
    machine's."""
    runtime = ["--runtime", "runc"] if shutil.which("runc") else []
    command = ["podman", *runtime, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise BuildError(f"podman {' '.join(args)} failed:\n{result.stderr}")
    return result


def ulimits() -> list[str]:
    """Limits for the containers that this host can grant. podman's defaults (a million open
    files) are above its hard limits here, and an unprivileged root cannot raise its own
    limits, so a container started with the defaults fails to start. This kernel also refuses a
    process limit above pid_max, which no more processes than could exist anyway."""
    _, files = resource.getrlimit(resource.RLIMIT_NOFILE)
    _, processes = resource.getrlimit(resource.RLIMIT_NPROC)
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    if processes == resource.RLIM_INFINITY or processes > pid_max:
        processes = pid_max
    options = ["--ulimit", f"nproc={processes}:{processes}"]
    if files != resource.RLIM_INFINITY:
        options += ["--ulimit", f"nofile={files}:{files}"]
    return options


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def image_id(name: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()


def digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big") + data)
    return hasher.hexdigest()


def local_base() -> tuple[str, bool]:
    """The mmdebstrap base for this host's release, built unless it exists; (tag, built)."""
    sources = next((path for path in APT_SOURCES if path.exists()), None)
    release = _os_release().get("VERSION_CODENAME")
    if sources is None or release is None or shutil.which("mmdebstrap") is None:
        raise BuildError(
            "the local base needs a Debian host with mmdebstrap (apt-get install mmdebstrap); "
            "elsewhere pass --base-image, e.g. python:3.11-slim"
        )
    key = digest(release, sources.read_bytes(), *BASE_PACKAGES, *MMDEBSTRAP_OPTIONS)
    tag = f"{LOCAL_BASE}:{key[:12]}"
    if image_exists(tag):
        return tag, False
    with tempfile.TemporaryDirectory(prefix="registry-base-") as folder:
        tarball = Path(folder) / "base.tar"
        result = subprocess.run(
            [
                "mmdebstrap",
                *MMDEBSTRAP_OPTIONS,
                f"--include={','.join(BASE_PACKAGES)}",
                release,
                str(tarball),
                str(sources),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"mmdebstrap failed:\n{result.stderr[-4000:]}")
        podman("import", "--quiet", str(tarball), tag)
    return tag, True


def _os_release() -> dict[str, str]:
    lines = Path("/etc/os-release").read_text().splitlines()
    return dict(
        (name, value.strip('"')) for name, _, value in (line.partition("=") for line in lines)
    )


def interpreter(base: str) -> dict[str, str]:
    result = podman(
        "run", "--rm", *ulimits(), "--network", "none", base, "python3", "-c", INTERPRETER
    )
    found: dict[str, str] = json.loads(result.stdout)
    if not found["glibc"].startswith("glibc "):
        raise BuildError(f"{base}'s python3 is not on glibc ({found}): no manylinux wheels")
    return found


def pip_target(found: dict[str, str]) -> list[str]:
    """pip's options that choose wheels for ``found`` instead of for this interpreter."""
    minor = int(found["glibc"].split()[1].split(".")[1])
    machine = found["machine"]
    platforms = [f"manylinux_2_{m}_{machine}" for m in range(minor, 4, -1)]
    platforms += [f"{name}_{machine}" for name, m in LEGACY_MANYLINUX.items() if m <= minor]
    version = found["python"]
    options = ["--only-binary=:all:", "--python-version", version, "--implementation", "cp"]
    options += ["--abi", f"cp{version.replace('.', '')}"]
    for platform_tag in platforms:
        options += ["--platform", platform_tag]
    return options


@dataclass(frozen=True)
class Wheels:
    """What the wheelhouse holds: wheels for ``found`` of the service at ``pins``."""

    found: dict[str, str]
    pins: str
    build_requires: list[str]

    @property
    def key(self) -> str:
        pyproject = (ROOT / "pyproject.toml").read_bytes()
        return digest(pyproject, self.pins, json.dumps(self.found, sort_keys=True))


def wheels_for(found: dict[str, str]) -> Wheels:
    """The versions installed in .venv, less the build backend's: that takes what it asks for."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build_requires: list[str] = pyproject["build-system"]["requires"]
    build_tools = {re.split(r"[<>=!~;\[ ]", requirement)[0] for requirement in build_requires}
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = "".join(
        f"{line}\n" for line in installed.splitlines() if line.split("==")[0] not in build_tools
    )
    return Wheels(found, pins, build_requires)


def fill_wheelhouse(wheels: Wheels) -> bool:
    """wheelhouse/ filled with ``wheels``, unless it already is; whether it was."""
    stamp = WHEELHOUSE / ".key"
    if stamp.exists() and stamp.read_text() == wheels.key:
        return False
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir()
    constraints = WHEELHOUSE / ".constraints.txt"
    constraints.write_text(wheels.pins)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(WHEELHOUSE)),
            *pip_target(wheels.found),
            *("--constraint", str(constraints)),
            f"{ROOT}[postgres]",
            *wheels.build_requires,
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BuildError(f"pip download failed:\n{result.stderr[-4000:]}")
    stamp.write_text(wheels.key)
    return True


def context_digest() -> str:
    """Every file the build context sends, with the Containerfile and .dockerignore."""
    parts: list[bytes | str] = []
    for name in ("Containerfile", ".dockerignore", *CONTEXT):
        path = ROOT / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                parts += [str(file.relative_to(ROOT)), file.read_bytes()]
    return digest(*parts)


def build(base_image: str | None = None) -> Report:
    report = Report()
    started = time.monotonic()
    if base_image is None:
        report.base, report.built["base"] = local_base()
    else:
        if not image_exists(base_image):
            podman("pull", base_image)
        report.base, report.built["base"] = base_image, False
    report.seconds["base"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    wheels = wheels_for(interpreter(report.base))
    key = digest(image_id(report.base), wheels.key, context_digest())
    report.image = f"{IMAGE}:{key[:12]}"
    # Only a new image needs the wheels: a fresh clone with the image at hand downloads none.
    report.built["image"] = not image_exists(report.image)
    report.built["wheelhouse"] = report.built["image"] and fill_wheelhouse(wheels)
    report.seconds["wheelhouse"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    if report.built["image"]:
        _build_image(report.base, report.image)
    else:
        podman("tag", report.image, f"{IMAGE}:latest")
    report.seconds["image"] = round(time.monotonic() - started, 1)
    report.size_bytes = int(
        podman("image", "inspect", "--format", "{{.Size}}", report.image).stdout
    )
    return report


def _build_image(base: str, tag: str) -> None:
    """podman build from the wheelhouse; then older builds of this image go, all but the two
    before this one, from which a test run still going may be starting containers.

    --no-cache: podman 4.3 reuses a cached layer of `RUN --mount=from=<stage>` after that
    stage's files changed, which would install yesterday's wheels; the hash in the tag is the
    cache instead. --layers=false: no intermediate image per step is kept, and none is left
    untagged (the wheels stage included)."""
    podman(
        *("build", "--no-cache", "--layers=false", "--format", "docker", *ulimits()),
        *("--build-arg", f"BASE_IMAGE={base}", "--build-arg", "WHEELHOUSE=wheelhouse"),
        *("--file", str(ROOT / "Containerfile"), "--tag", tag, str(ROOT)),
    )
    podman("tag", tag, f"{IMAGE}:latest")
    listed = podman("images", "--sort", "created", "--format", "{{.Tag}}", IMAGE).stdout
    builds = [name for name in listed.split() if name != "latest"]
    stale = [f"{IMAGE}:{name}" for name in builds if name != tag.rpartition(":")[2]][2:]
    if stale:
        podman("rmi", *stale, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-image", help="a base to pull instead of the local Debian one")
    parser.add_argument("--report", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    if shutil.which("podman") is None:
        print("image: podman is not installed (apt-get install podman runc)", file=sys.stderr)
        return 2
    try:
        report = build(args.base_image)
    except BuildError as error:
        print(f"image: {error}", file=sys.stderr)
        return 1
    summary = json.dumps(asdict(report))
    if args.report:
        args.report.write_text(summary + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
