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
import mmap
import os
import re
from collections.abc import Iterator
from pathlib import Path

from orchestration.lib.ingest import ledger
from orchestration.lib.ingest.landing import discover
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import store_path, table_exists, write_connection
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


_AROUND_A_VALUE = b',"\t :\r\n}'  # what may stand next to a whole CSV or JSON value


def _may_hold(path: Path, subject_id: str, identifiers: list[str]) -> bool:
    """Whether a text export might hold the subject: one of its identifiers, or its id as a
    whole value, anywhere in the bytes. A file with neither needs no parsing (most have
    neither); plain byte searches, so a false yes only costs the parse."""
    if path.stat().st_size == 0:
        return False
    needle = subject_id.encode()
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                               access=mmap.ACCESS_READ) as data:
        if any(data.find(value.encode()) >= 0 for value in identifiers):
            return True
        at = data.find(needle)
        while at >= 0:
            before = data[at - 1:at] if at else b"\n"
            after = data[at + len(needle):at + len(needle) + 1] or b"\n"
            if before in _AROUND_A_VALUE and after in _AROUND_A_VALUE:
                return True
            at = data.find(needle, at + 1)
    return False


def _kept_text(path: Path, fmt: str, id_column: str, subject_id: str,
               identifiers: list[str]) -> tuple[str, int]:
    """The file's text without the subject's records, and how many records went."""
    mentions = re.compile(mention_pattern(identifiers)) if identifiers else None

    def names_subject(raw: str) -> bool:
        # The plain substring test first: it is cheap and rules out almost every record.
        return any(value in raw for value in identifiers) and bool(mentions.search(raw))

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


def _refingerprint(spec: SourceTable, fingerprints: dict[str, str]) -> None:
    """Tell every load log and the refused-file list each file's new fingerprint."""
    places = [(store_path(r), ledger.LOG_TABLE) for r in region_names()]
    places.append((get_settings().quarantine_store, ledger.REFUSED_FILES_TABLE))
    for path, table in places:
        schema, _, bare = table.rpartition(".")
        if not path.exists():
            continue
        with write_connection(path) as con:
            if table_exists(con, schema or "main", bare):
                con.executemany(f"UPDATE {table} SET fingerprint = ? WHERE source_table = ? "
                                "AND file = ?", [[fingerprint, spec.name, name]
                                                 for name, fingerprint in fingerprints.items()])


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
        pid = leftover.name.removeprefix(_TEMPORARY).partition("-")[0]
        if not pid.isdigit() or not _running(int(pid)):
            leftover.unlink(missing_ok=True)


def erase_from_landing(spec: SourceTable, id_column: str, subject_id: str,
                       identifiers: list[str], delete: bool) -> dict[str, int]:
    """Records of the subject per landing file of `spec` (removed, or only counted)."""
    landing = get_settings().landing_dir
    if delete:
        _clear_leftovers(landing)
    found: dict[str, int] = {}
    written: dict[Path, Path] = {}  # landing file → its rewritten copy, not yet in place
    fingerprints: dict[str, str] = {}
    for file in discover(spec, landing):
        if file.refused or (spec.format != "parquet"
                            and not _may_hold(file.path, subject_id, identifiers)):
            continue
        if spec.format == "parquet":
            kept, removed = _kept_parquet(file.path, id_column, subject_id, identifiers)
        else:
            kept, removed = _kept_text(file.path, spec.format, id_column, subject_id,
                                       identifiers)
        if removed:
            found[file.name] = removed
            if delete:
                copy = landing / f"{_TEMPORARY}{os.getpid()}-{len(written)}"
                fingerprints[file.name] = _write(copy, kept)
                written[file.path] = copy
    if written:
        _refingerprint(spec, fingerprints)
        for path, copy in written.items():
            os.replace(copy, path)  # the same inode: size and mtime, so the fingerprint, hold
    return found


def _write(copy: Path, kept) -> str:
    """Write the kept text or table to `copy`; returns its fingerprint."""
    if isinstance(kept, str):
        with open(copy, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(kept)
    else:
        import pyarrow.parquet as pq

        pq.write_table(kept, copy)
    stat = copy.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"
