"""What one load of a source table did with every row it read, file by file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadReport:
    source_table: str
    files_new: list[str] = field(default_factory=list)
    files_refused: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_loaded: dict[str, int] = field(default_factory=dict)
    rows_unchanged: int = 0
    rows_superseded: int = 0
    rows_quarantined: int = 0
    rows_expired: int = 0  # already past the table's retention when they arrived
    rows_erased: int = 0  # of a data subject in the erasure register
    quarantine_reasons: Counter = field(default_factory=Counter)
    table_rows: dict[str, int] = field(default_factory=dict)
    columns_added: dict[str, list[str]] = field(default_factory=dict)  # newly declared, by region
    files_seen: int = 0  # in the landing folder, new or not
    by_file: dict[str, Counter] = field(default_factory=dict)  # outcome -> rows, per new file

    def tally(self, outcome: str, counts: list[tuple[str, int]]) -> int:
        """Add (file, rows) counts of one outcome; returns their total."""
        for name, rows in counts:
            self.by_file.setdefault(name, Counter())[outcome] += rows
        return sum(rows for _, rows in counts)

    def file_outcomes(self) -> dict[str, dict]:
        """What became of each new file's rows, for the audit log: rows already stored
        (unchanged) are what is left of those read."""
        outcomes = {}
        for name in self.files_new:
            counts = self.by_file.get(name, Counter())
            known = sum(rows for outcome, rows in counts.items() if outcome != "read")
            loaded = {f"loaded_{region}": counts[f"loaded_{region}"] for region in self.rows_loaded}
            outcomes[name] = {**counts, **loaded, "read": counts["read"],
                              "unchanged": counts["read"] - known}
        return outcomes

    @property
    def accounted(self) -> int:
        return (sum(self.rows_loaded.values()) + self.rows_unchanged + self.rows_superseded
                + self.rows_quarantined + self.rows_expired + self.rows_erased)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.accounted
