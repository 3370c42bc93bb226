"""What the benchmarks ran on, for their reports."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from registry_service.store.engine import make_engine


def machine(url: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    engine = make_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            version = connection.exec_driver_sql("select sqlite_version()").scalar_one()
            database = f"SQLite {version}"
        else:
            version = connection.exec_driver_sql("select version()").scalar_one()
            database = version.split(" on ")[0]
    engine.dispose()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "database": database,
        "kernel": platform.release(),
    }
