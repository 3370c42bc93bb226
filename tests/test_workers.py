"""`serve --workers 2`: two server processes on one port and one store, as a real process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from registry_service.client import RegistryClient
from registry_service.store.registry_store import RegistryStore

from .processes import Served, serving, start_serving
from .test_store_concurrency import create_versions_together, version_numbers

CLIENTS, PER_CLIENT = 16, 5


def test_two_workers_on_one_port_give_every_version_number_once(
    database_url: str, store: RegistryStore
) -> None:
    with serving(
        "--port", "0", "--database-url", database_url, "--workers", "2", "--metrics-port", "0"
    ) as served:
        # Each client its own connection, which the kernel hands to either worker.
        clients = [
            RegistryClient(served.address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(CLIENTS)
        ]
        clients[0].create_registered_model("m")

        returned = create_versions_together(clients, PER_CLIENT)
        handled = served.metric(
            "grpc_server_handled_total", grpc_method="CreateModelVersion", grpc_code="OK"
        )
        served.wait_for_log(
            lambda _: len(served.access_logs("CreateModelVersion")) == CLIENTS * PER_CLIENT
        )
        workers = {line["pid"] for line in served.access_logs("CreateModelVersion")}

    expected = list(range(1, CLIENTS * PER_CLIENT + 1))
    assert returned == expected
    assert version_numbers(store, "m") == expected
    assert len(workers) == 2, "one worker served every call"
    assert served.process.pid not in workers
    # /metrics adds up what both workers counted.
    assert handled == CLIENTS * PER_CLIENT


def test_a_worker_that_dies_stops_the_server_with_status_1(tmp_path: Path) -> None:
    served = start_serving(
        "--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db", "--workers", "2"
    )
    try:
        served.wait_for_log(lambda _: len(worker_pids(served)) == 2)
        workers = sorted(worker_pids(served))
        os.kill(workers[0], signal.SIGKILL)
        assert served.process.wait(timeout=60) == 1
    finally:
        if served.process.poll() is None:
            served.process.kill()
    served.wait_for_log(
        lambda line: line["message"] == "a worker exited unexpectedly; stopping the others"
    )
    # The survivor was stopped and reaped by the supervisor.
    try:
        os.kill(workers[1], 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"worker {workers[1]} outlived its supervisor")


def worker_pids(served: Served) -> set[int]:
    return {line["pid"] for line in served.logs() if line["message"].startswith("worker serving")}
