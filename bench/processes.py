"""Server processes the benchmarks start, and what they cost: CPU over the process tree (a
supervisor and its --workers) and the resident memory of each process that serves calls."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class ServerProcess:
    popen: subprocess.Popen[str]
    # host:port it listens on.
    target: str

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.popen.pid)
        return [root, *root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User and system CPU seconds used so far by the server and its workers."""
        total = 0.0
        for process in self._tree():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def _serving(self) -> list[psutil.Process]:
        """The processes that serve calls: the workers under a supervisor (not
        multiprocessing's resource tracker), or the one process when there are none."""
        root, *children = self._tree()
        workers = [child for child in children if "resource_tracker" not in _cmdline(child)]
        return workers or [root]

    def rss_mib(self) -> list[float]:
        """Resident memory of each serving process."""
        return [round(p.memory_info().rss / 2**20, 1) for p in self._serving()]

    def connections_per_worker(self) -> list[int]:
        """Client connections each serving process has open on the server's port."""
        port = int(self.target.rsplit(":", 1)[1])
        return [
            sum(
                1
                for connection in process.net_connections("tcp")
                if connection.status == psutil.CONN_ESTABLISHED and connection.laddr.port == port
            )
            for process in self._serving()
        ]

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def start_server(command: list[str], log: Path, timeout: float = 120) -> ServerProcess:
    """Run ``command`` until it logs "listening on HOST:PORT". Its log goes to the file ``log``,
    not a pipe: a pipe drained by this process would slow the server down whenever this process
    is slow to read it."""
    with log.open("w") as sink:
        server = subprocess.Popen(command, stderr=sink, text=True)
    deadline = time.time() + timeout
    with log.open() as lines:
        while True:
            line = lines.readline()
            # Not "http listening on", the gateway's port.
            found = re.search(r'(?<!http )listening on ([^\s"]+)', line)
            if found:
                return ServerProcess(server, found.group(1))
            if server.poll() is not None:
                raise SystemExit(f"{command[2]} exited with {server.returncode}; see {log}")
            if time.time() > deadline:
                server.kill()
                raise SystemExit(f"{command[2]} did not start; see {log}")
            if not line:
                time.sleep(0.05)
