"""The statistics as CSV: the same report the page shows, one line per period and group, then one per group over
the whole range (period ``all``), then the grand total (period and group ``all``). UTF-8 with BOM like the audit
export, so that Excel opens the Chinese street and camera names right."""

from __future__ import annotations

import csv
import io

from wall.stats.models import Figures, StatsReport

FIELDS = ["period", "group", "label", "raised", "confirmed", "rejected", "merged", "pending", "ai_decided",
          "ai_confirmed", "ai_precision", "median_decision_seconds", "dispatched", "cleared_on_video",
          "median_clear_seconds", "overdue", "rejected_by_reason"]
ALL = "all"


def _cells(period: str, group: str, label: str, f: Figures) -> list[str]:
    def cell(value: object) -> str:
        return "" if value is None else str(value)

    reasons = ";".join(f"{k}:{v}" for k, v in sorted(f.rejected_by_reason.items()))
    return [period, group, label, *(cell(getattr(f, name)) for name in FIELDS[3:-1]), reasons]


def csv_text(report: StatsReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for row in report.rows:
        writer.writerow(_cells(row.period, row.key or "", row.label, row))
    for group in report.groups:
        writer.writerow(_cells(ALL, group.key or "", group.label, group))
    writer.writerow(_cells(ALL, ALL, "", report.total))
    return "\ufeff" + out.getvalue()
