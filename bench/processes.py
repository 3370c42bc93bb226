"""Server processes the benchmarks start, and what they cost: CPU over the process tree (a
supervisor and its --workers) and the resident memory of each process that serves calls."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass

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

    def rss_mib(self) -> list[float]:
        """Resident memory of each serving process: the workers under a supervisor (not
        multiprocessing's resource tracker), or the one process when there are none."""
        root, *children = self._tree()
        workers = [child for child in children if "resource_tracker" not in _cmdline(child)]
        return [round(p.memory_info().rss / 2**20, 1) for p in (workers or [root])]

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


def start_server(command: list[str], timeout: float = 120) -> ServerProcess:
    """Run ``command`` until it logs "listening on HOST:PORT"; its output is drained from then on
    so that it never blocks on a full pipe."""
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    deadline = time.time() + timeout
    for line in server.stderr:
        # Not "http listening on", the gateway's port.
        found = re.search(r'(?<!http )listening on ([^\s"]+)', line)
        if found:
            target = found.group(1)
            break
        if time.time() > deadline:
            server.kill()
            raise SystemExit(f"{command[2]} did not start")
    else:
        raise SystemExit(f"{command[2]} exited with {server.wait()}")
    threading.Thread(target=lambda: [None for _ in server.stderr or []], daemon=True).start()
    return ServerProcess(server, target)
