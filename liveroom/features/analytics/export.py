"""A report as CSV: one figure per row, ``group,figure,sku,time,value`` (``docs/analytics.md``)."""

from __future__ import annotations

import csv
import io
from typing import Any

HEADER = ("group", "figure", "sku", "time", "value")


def report_csv(report: dict[str, Any]) -> str:
    """Every figure of ``report`` (``report.build``) as rows; empty cells where a column does
    not apply, ``time`` in seconds since the epoch (a minute's or an hour's start)."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(HEADER)

    def put(group: str, figure: str, value: Any, sku: str = "", time: Any = "") -> None:
        rows.writerow((group, figure, sku, time, "" if value is None else value))

    for group in ("audience", "watch", "returning", "followers", "interaction", "money", "groups"):
        for figure, value in report[group].items():
            if figure == "retention":
                for minutes, share in value.items():
                    put(group, f"retention_{minutes}m", share)
            elif figure != "hours":
                put(group, figure, value)
    for source, n in report["sources"]["by_source"].items():
        put("sources", source, n)
    for figure in ("public", "private", "private_share"):
        put("sources", figure, report["sources"][figure])
    for row in report["minutes"]:
        for figure, value in row.items():
            if figure != "minute":
                put("minute", figure, value, time=row["minute"])
    for product in report["products"]:
        for figure, value in product.items():
            if figure == "conversion":
                for step, share in value.items():
                    put("product", f"conversion_{step}", share, product["sku"])
            elif figure != "sku":
                put("product", figure, value, product["sku"])
    for step, n in report["funnel"].items():
        put("funnel", step, n)
    minutes = report["heatmap"]["minutes"]
    for card in report["heatmap"]["cards"]:
        for minute, n in zip(minutes, card["clicks"], strict=True):
            put("heatmap", "clicks", n, card["sku"], minute)
    for hour in report["money"]["hours"]:
        for figure in ("gmv", "ad_spend", "roi"):
            put("hour", figure, hour[figure], time=hour["hour"])
    for facet, values in report["profile"].items():
        if facet != "k":
            for value, n in values.items():
                put("profile", f"{facet}:{value}", n)
    return out.getvalue()
