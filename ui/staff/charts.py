"""Geometry of the statistics page's inline SVG charts (no charting library, no script)."""

from __future__ import annotations

from typing import Any


def hour_bars(per_hour: tuple[int, ...]) -> dict[str, Any]:
    """Geometry of the per-hour bar chart (07:00-20:00 plus any other hour with tickets)."""
    hours = [h for h in range(24) if 7 <= h <= 20 or per_hour[h]]
    top = max([per_hour[h] for h in hours] + [1])
    width, height, pad = 640, 220, 30
    step = (width - pad * 2) / max(1, len(hours))
    bars = []
    for i, h in enumerate(hours):
        bar_h = (height - pad * 2) * per_hour[h] / top
        bars.append(
            {
                "x": round(pad + i * step + 2, 1),
                "y": round(height - pad - bar_h, 1),
                "w": round(step - 4, 1),
                "h": round(bar_h, 1),
                "hour": h,
                "n": per_hour[h],
            }
        )
    return {"width": width, "height": height, "pad": pad, "bars": bars, "top": top}


def wait_bars(queues: tuple[Any, ...], names: dict[str, str]) -> dict[str, Any]:
    """Geometry of the waits-per-queue chart: mean and p90 wait in minutes."""
    rows = []
    top = max([(q.p90_wait_s or q.mean_wait_s or 0) for q in queues] + [60]) / 60
    width, row_h, label_w = 640, 34, 160
    for i, q in enumerate(queues):
        mean = (q.mean_wait_s or 0) / 60
        p90 = (q.p90_wait_s or 0) / 60
        scale = (width - label_w - 60) / top
        rows.append(
            {
                "y": 10 + i * row_h,
                "label": names.get(q.queue, q.queue),
                "mean_w": round(mean * scale, 1),
                "p90_w": round(p90 * scale, 1),
                "mean": round(mean, 1),
                "p90": round(p90, 1),
            }
        )
    return {"width": width, "height": 20 + row_h * len(rows), "label_w": label_w, "rows": rows}
