"""A data subject's records taken out of the landing files it was loaded from.

An erasure that left the exports untouched would leave the subject on disk, one full rebuild
away from the stores. CSV and JSON lines are filtered record by record, every other record
kept byte for byte as delivered; Parquet is rewritten from its remaining rows. A record goes
when its subject column holds the subject's id, or when its text holds one of the subject's
identifiers as a whole word (all a malformed record may still show). Each store's load log
learns the new file's fingerprint before the new file replaces the old one (atomically), so
the next load does not take an erased export for a new one.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from orchestration.lib.ingest import ledger
from orchestration.lib.ingest.landing import discover
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import SourceTable
from orchestration.lib.store import store_path, table_exists, write_connection
from policies.redaction import mention_pattern
from policies.regions import region_names

_BOM = "\ufeff"


def _csv_records(handle) -> Iterator[tuple[list[str], str]]:
    """Each CSV record with the exact text it spans (a quoted field may span lines)."""
    spanned: list[str] = []

    def lines() -> Iterator[str]:
        for line in handle:
            spanned.append(line)
            yield line

    for record in csv.reader(lines()):
        yield record, "".join(spanned)
        spanned.clear()


def _kept_text(path: Path, fmt: str, id_column: str, subject_id: str,
               identifiers: list[str]) -> tuple[str, int]:
    """The file's text without the subject's records, and how many records went."""
    mentions = re.compile(mention_pattern(identifiers)) if identifiers else None

    def names_subject(raw: str) -> bool:
        return bool(mentions and mentions.search(raw))

    kept, removed, position = [], 0, None
    # surrogateescape keeps bytes that are not UTF-8 exactly as they were.
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        if fmt == "csv":
            for number, (record, raw) in enumerate(_csv_records(handle)):
                if number == 0:
                    header = [name.removeprefix(_BOM).strip() for name in record]
                    position = header.index(id_column) if id_column in header else None
                elif ((position is not None and position < len(record)
                       and record[position].strip() == subject_id) or names_subject(raw)):
                    removed += 1
                    continue
                kept.append(raw)
        else:
            for raw in handle:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                if ((isinstance(parsed, dict) and str(parsed.get(id_column)) == subject_id)
                        or names_subject(raw)):
                    removed += 1
                    continue
                kept.append(raw)
    return "".join(kept), removed


def _kept_parquet(path: Path, id_column: str, subject_id: str, identifiers: list[str]):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    goes = pc.equal(pc.cast(table[id_column], pa.string()), subject_id)
    for column in table.column_names:
        if identifiers and pa.types.is_string(table.schema.field(column).type):
            goes = pc.or_(goes, pc.match_substring_regex(table[column],
                                                         mention_pattern(identifiers)))
    goes = pc.fill_null(goes, False)
    return table.filter(pc.invert(goes)), int(pc.sum(goes).as_py() or 0)


def _refingerprint(spec: SourceTable, name: str, fingerprint: str) -> None:
    """Tell every load log and the refused-file list that `name` now has `fingerprint`."""
    places = [(store_path(r), ledger.LOG_TABLE) for r in region_names()]
    places.append((get_settings().quarantine_store, ledger.REFUSED_FILES_TABLE))
    for path, table in places:
        schema, _, bare = table.rpartition(".")
        if not path.exists():
            continue
        with write_connection(path) as con:
            if table_exists(con, schema or "main", bare):
                con.execute(f"UPDATE {table} SET fingerprint = ? WHERE source_table = ? "
                            "AND file = ?", [fingerprint, spec.name, name])


_TEMPORARY = ".erasing-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return True


def _clear_leftovers(landing: Path) -> None:
    """A file an erasure killed mid-write left behind (named after its process)."""
    for leftover in landing.glob(f"{_TEMPORARY}*"):
        pid = leftover.name.removeprefix(_TEMPORARY)
        if not pid.isdigit() or not _running(int(pid)):
            leftover.unlink(missing_ok=True)


def erase_from_landing(spec: SourceTable, id_column: str, subject_id: str,
                       identifiers: list[str], delete: bool) -> dict[str, int]:
    """Records of the subject per landing file of `spec` (removed, or only counted)."""
    landing = get_settings().landing_dir
    if delete:
        _clear_leftovers(landing)
    found: dict[str, int] = {}
    for file in discover(spec, landing):
        if file.refused:
            continue
        if spec.format == "parquet":
            kept, removed = _kept_parquet(file.path, id_column, subject_id, identifiers)
        else:
            kept, removed = _kept_text(file.path, spec.format, id_column, subject_id,
                                       identifiers)
        if not removed:
            continue
        found[file.name] = removed
        if delete:
            _replace(spec, file.name, file.path, kept)
    return found


def _replace(spec: SourceTable, name: str, path: Path, kept) -> None:
    temporary = get_settings().landing_dir / f"{_TEMPORARY}{os.getpid()}"
    if isinstance(kept, str):
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape",
                  newline="") as handle:
            handle.write(kept)
    else:
        import pyarrow.parquet as pq

        pq.write_table(kept, temporary)
    stat = temporary.stat()
    _refingerprint(spec, name, f"{stat.st_size}:{stat.st_mtime_ns}")
    os.replace(temporary, path)  # the same inode: size and mtime, so the fingerprint, hold
