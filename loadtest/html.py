"""A self-contained HTML report: summary table, latency over time, latency histogram.

Plots are inline SVG drawn here; the page loads nothing from anywhere.
"""

from __future__ import annotations

import html
from typing import Any

import orjson

W, H, PAD = 720, 260, 48


def _scale(
    values: list[float], low: float, high: float, out_low: float, out_high: float
) -> list[float]:
    span = (high - low) or 1.0
    return [out_low + (v - low) / span * (out_high - out_low) for v in values]


def _axes(x_label: str, y_label: str, x_max: float, y_max: float) -> str:
    parts = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#444"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#444"/>',
        f'<text x="{W // 2}" y="{H - 10}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="12" y="{H // 2}" transform="rotate(-90 12 {H // 2})" text-anchor="middle">'
        f"{html.escape(y_label)}</text>",
    ]
    for i in range(5):
        y = H - PAD - i * (H - PAD - 10) / 4
        parts.append(
            f'<text x="{PAD - 4}" y="{y + 4:.0f}" text-anchor="end">{y_max * i / 4:.3g}</text>'
        )
        x = PAD + i * (W - 10 - PAD) / 4
        parts.append(
            f'<text x="{x:.0f}" y="{H - PAD + 16}" text-anchor="middle">{x_max * i / 4:.3g}</text>'
        )
    return "".join(parts)


def line_plot(
    rows: list[list[float]], columns: list[tuple[int, str, str]], x_label: str, y_label: str
) -> str:
    """An SVG line plot; ``columns`` are (index in a row, name, colour)."""
    if not rows:
        return "<p>(no samples)</p>"
    xs = [r[0] for r in rows]
    y_max = max(max(r[i] for r in rows) for i, _, _ in columns) or 1.0
    x_max = max(xs) or 1.0
    px = _scale(xs, 0, x_max, PAD, W - 10)
    lines = []
    for index, name, colour in columns:
        py = _scale([r[index] for r in rows], 0, y_max, H - PAD, 10)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True))
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{points}"><title>{html.escape(name)}</title></polyline>'
        )
    legend = "".join(
        f'<text x="{W - 150}" y="{20 + 14 * n}" fill="{colour}">{html.escape(name)}</text>'
        for n, (_, name, colour) in enumerate(columns)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-size="11" font-family="sans-serif">{_axes(x_label, y_label, x_max, y_max)}'
        f"{''.join(lines)}{legend}</svg>"
    )


def bar_plot(rows: list[list[float]], x_label: str) -> str:
    """An SVG histogram of ``[upper_ms, count]`` rows (log-spaced buckets)."""
    if not rows:
        return "<p>(no samples)</p>"
    top = max(r[1] for r in rows) or 1
    width = (W - 10 - PAD) / len(rows)
    bars = []
    for n, (upper, count) in enumerate(rows):
        h = (H - PAD - 10) * count / top
        x = PAD + n * width
        bars.append(
            f'<rect x="{x:.1f}" y="{H - PAD - h:.1f}" width="{max(width - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#3b7dd8"><title>≤ {upper:.2f} ms: {count:,}'
            f"</title></rect>"
        )
    labels = "".join(
        f'<text x="{PAD + n * width + width / 2:.0f}" y="{H - PAD + 16}" text-anchor="middle">'
        f"{rows[n][0]:.3g}</text>"
        for n in range(0, len(rows), max(1, len(rows) // 8))
    )
    axes = (
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#444"/>'
        f'<text x="{W // 2}" y="{H - 10}" text-anchor="middle">{html.escape(x_label)}</text>'
        f'<text x="{PAD - 4}" y="14" text-anchor="end">{top:,}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-size="11" font-family="sans-serif">{axes}{"".join(bars)}{labels}</svg>'
    )


def render(summary: dict[str, Any]) -> str:
    """The whole page for one run's summary."""
    skip = {"series", "histogram", "rss_series"}
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_text(v))}</td></tr>"
        for k, v in summary.items()
        if k not in skip
    )
    status = "OK" if summary.get("ok", True) else "FAILED"
    colour = "#1a7f37" if status == "OK" else "#cf222e"
    plots = [
        "<h2>Latency over time (publish → receive)</h2>",
        line_plot(
            summary.get("series", []),
            [(1, "p50", "#1a7f37"), (2, "p99", "#d97706"), (3, "max", "#cf222e")],
            "seconds",
            "ms",
        ),
        "<h2>Latency histogram</h2>",
        bar_plot(summary.get("histogram", []), "ms (upper bound of bucket)"),
    ]
    if summary.get("rss_series"):
        plots += [
            "<h2>Server RSS</h2>",
            line_plot(summary["rss_series"], [(1, "RSS MB", "#6f42c1")], "seconds", "MB"),
        ]
    failures = "".join(f"<li>{html.escape(f)}</li>" for f in summary.get("failures", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>loadtest {html.escape(summary.get("scenario", ""))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:800px}}
table{{border-collapse:collapse}}th,td{{border:1px solid #ccc;padding:2px 8px;text-align:left;
font-size:13px;vertical-align:top}}td{{font-family:monospace;white-space:pre-wrap}}</style>
</head><body>
<h1>loadtest {html.escape(summary.get("scenario", ""))}:
<span style="color:{colour}">{status}</span></h1>
<ul>{failures}</ul>
{"".join(plots)}
<h2>Summary</h2><table>{rows}</table>
</body></html>
"""


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)
