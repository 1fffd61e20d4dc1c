"""Disaster recovery on a built estate (bench/e2e.py's full one): `steward backup` and
`steward restore` against the floor, a plain copy of the same store files, each in a fresh
process in the same run. The restore includes what it does after the copy: checking every
checksum first, and the retention purge.

`python -m bench.recovery copy|backup|restore` is one measurement, on the data folder the
environment names; it prints its JSON on the last line.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.e2e import in_fresh_process
from bench.measure import peak_rss_mib


def _measure(mode: str) -> dict:
    from orchestration.lib.operations import backups
    from orchestration.lib.settings import get_settings

    stores = sorted(get_settings().store_dir.glob("*.duckdb"))
    started = time.perf_counter()
    if mode == "copy":
        with tempfile.TemporaryDirectory(dir=get_settings().data_dir) as target:
            for store in stores:
                shutil.copyfile(store, Path(target) / store.name)
            seconds = time.perf_counter() - started
    elif mode == "backup":
        backups.take()
        seconds = time.perf_counter() - started
    else:
        backups.restore(backups.listed()[-1].name)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": sum(s.stat().st_size for s in stores),
            "peak_rss_mib": peak_rss_mib()}


def bench_recovery(data_dir: Path, rows: int) -> None:
    copy = in_fresh_process(data_dir, "copy", module="bench.recovery")
    backup = in_fresh_process(data_dir, "backup", module="bench.recovery")
    restore = in_fresh_process(data_dir, "restore", module="bench.recovery")
    print(f"\nbackup and restore of the {rows:,}-row estate's stores "
          f"({copy['bytes'] / 2**20:,.0f} MiB), one fresh process each\n")
    print(f"{'step':<38}{'seconds':>9}{'vs copy':>9}{'peak RSS MiB':>14}")
    for label, result in (("copy of the store files (floor)", copy),
                          ("steward backup", backup), ("steward restore", restore)):
        print(f"{label:<38}{result['seconds']:>9.2f}"
              f"{result['seconds'] / copy['seconds']:>8.2f}x{result['peak_rss_mib']:>14.0f}")


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1])))
