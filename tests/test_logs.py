"""Log lines read well where they are read: plain text on a terminal (as `make run` in a shell),
JSON lines for a machine (a pipe, a container's log, a collector), and either when asked."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

from registry_service.client import RegistryClient

from .processes import CLI, LISTENING, PATIENCE_S, serving

TEXT_LINE = r"^\d\d:\d\d:\d\d\.\d{3} INFO  registry_service\.\S+ "


class TerminalServer:
    """A server whose stderr is a pseudo-terminal, read as the person at it would."""

    def __init__(self, *flags: str, env: dict[str, str] | None = None) -> None:
        self._terminal, child_end = pty.openpty()
        self.process = subprocess.Popen(
            [*CLI, "serve", "--port", "0", "--http-port", "-1", *flags],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=child_end,
            env={**os.environ, **(env or {})},
        )
        os.close(child_end)
        self.text = ""

    def read_until(self, wanted: str) -> str:
        """All read so far, once a whole line holding ``wanted`` (a regular expression) is in."""
        line = re.compile(wanted + r".*\n")
        deadline = time.monotonic() + PATIENCE_S
        while not line.search(self.text):
            assert time.monotonic() < deadline, f"no {wanted!r} in:\n{self.text}"
            ready, _, _ = select.select([self._terminal], [], [], 0.5)
            if ready:
                try:
                    self.text += os.read(self._terminal, 65536).decode()
                except OSError:  # the child closed the terminal: it exited
                    assert line.search(self.text), f"exited without {wanted!r}:\n{self.text}"
        return self.text

    def address(self) -> str:
        match = LISTENING.search(self.read_until(LISTENING.pattern))
        assert match, self.text
        return f"{match.group(1)}:{match.group(2)}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=PATIENCE_S)
        os.close(self._terminal)


def lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.replace("\r\n", "\n").splitlines() if word in line]


def test_a_terminal_gets_readable_lines_with_the_call_fields(tmp_path: Path) -> None:
    server = TerminalServer("--database-url", f"sqlite:///{tmp_path}/r.db")
    try:
        with RegistryClient(server.address()) as client:
            client.create_registered_model("seen")
        text = server.read_until("CreateRegisteredModel")
    finally:
        server.stop()
    [listening] = [line for line in lines_with(text, "listening on") if "http" not in line]
    assert not listening.startswith("{")
    assert re.match(TEXT_LINE, listening), listening
    [access] = lines_with(text, "CreateRegisteredModel")
    assert "code=OK" in access and "request_id=" in access, access


def test_json_on_a_terminal_when_asked(tmp_path: Path) -> None:
    server = TerminalServer(
        "--database-url", f"sqlite:///{tmp_path}/r.db", env={"REGISTRY_LOG_FORMAT": "json"}
    )
    try:
        text = server.read_until(LISTENING.pattern)
    finally:
        server.stop()
    [listening] = [line for line in lines_with(text, "listening on") if "http" not in line]
    assert json.loads(listening)["message"].startswith("listening on")


def test_output_that_is_not_a_terminal_gets_json_lines(tmp_path: Path) -> None:
    with (
        serving("--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db") as served,
        RegistryClient(served.address) as client,
    ):
        client.create_registered_model("logged")
        access = served.wait_for_log(lambda log: "CreateRegisteredModel" in log["message"])
    assert access["level"] == "INFO" and access["request_id"]


def test_text_when_asked_whatever_the_output(tmp_path: Path) -> None:
    with serving(
        "--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db", "--log-format", "text"
    ) as served:
        assert served.logs() == []  # no JSON line at all
        text = served.text()
    [listening] = [line for line in lines_with(text, "listening on") if "http" not in line]
    assert re.match(TEXT_LINE, listening), listening


def test_an_unknown_log_format_is_refused_with_the_choices() -> None:
    result = subprocess.run(
        [*CLI, "serve", "--log-format", "xml"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "auto, text, json" in result.stderr
