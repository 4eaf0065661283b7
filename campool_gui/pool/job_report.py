"""A job's result in the traffic-survey layout: interval x line x direction x class, with totals.

`build_report(job)` joins the segments' crossings (each crossing once: segments own disjoint
frame ranges) and places each at its real clock time, the file's recording start plus its media
time. Intervals are aligned on the clock (a 15-minute report has rows 08:00, 08:15, ...), as a
survey form has them. Exports: CSV (one row per interval, line, direction and class, then the
totals) and a printable HTML page with a bar chart per line (inline SVG; no extra package).
"""
from __future__ import annotations

import csv
import html
import io
import math
import time
from dataclasses import dataclass, field
from typing import Any

from campool_worker.camera import LineCounts

from .jobs import Job


@dataclass
class JobReport:
    job_id: str
    name: str
    state: str
    interval_s: float
    counts: dict[str, LineCounts] = field(default_factory=dict)
    # (interval start, line, direction, class) -> count
    cells: dict[tuple[float, str, str, str], int] = field(default_factory=dict)
    missing: list[dict[str, Any]] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    segments: int = 0
    retried: int = 0

    def intervals(self) -> list[dict[str, Any]]:
        """The survey rows, in time order: {start, end, start_local, line, direction, class, count}."""
        return [{"start": t, "end": t + self.interval_s, "start_local": _local(t), "line": ln, "direction": d,
                 "class": c, "count": n} for (t, ln, d, c), n in sorted(self.cells.items())]

    def counts_dict(self) -> dict[str, Any]:
        return {name: lc.to_dict() for name, lc in sorted(self.counts.items())}

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "state": self.state, "counts": self.counts_dict(),
                "intervals": self.intervals(), "segments": self.segments, "retried": self.retried,
                "partial": bool(self.missing), "missing": self.missing}


def _local(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def build_report(job: Job) -> JobReport:
    interval = job.spec.interval_min * 60.0
    rep = JobReport(job.job_id, job.spec.name or job.job_id, job.state, interval,
                    counts={ln.name: LineCounts() for ln in job.spec.lines}, missing=job.missing(),
                    segments=len(job.segments), retried=sum(s.retried for s in job.segments))
    if job.media:
        rep.start = job.media[0].start_time
        rep.end = max(m.start_time + m.duration_s for m in job.media)
    for s in job.segments:
        if s.state != "done" or not s.crossings:
            continue
        t0 = job.media[s.file_idx].start_time
        for c in s.crossings:
            rep.counts.setdefault(c.line, LineCounts()).add(c.direction, c.class_name)
            bucket = math.floor((t0 + c.media_ts) / interval) * interval
            key = (bucket, c.line, c.direction, c.class_name)
            rep.cells[key] = rep.cells.get(key, 0) + 1
    return rep


def to_csv(rep: JobReport) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["interval_start", "interval_end", "line", "direction", "class", "count"])
    for row in rep.intervals():
        w.writerow([row["start_local"], _local(row["end"]), row["line"], row["direction"], row["class"], row["count"]])
    for name, lc in sorted(rep.counts.items()):
        for cls, per in sorted(lc.by_class.items()):
            for d in ("in", "out"):
                w.writerow(["total", "", name, d, cls, per.get(d, 0)])
        w.writerow(["total", "", name, "in", "all", lc.in_total])
        w.writerow(["total", "", name, "out", "all", lc.out_total])
    for m in rep.missing:
        w.writerow(["missing", "", m["file"], f"{m['start_s']}-{m['end_s']} s", m["reason"], ""])
    return out.getvalue()


def _chart(rep: JobReport, line: str) -> str:
    """Bars of in (dark) and out (light) per interval for one line, as inline SVG."""
    buckets = sorted({t for (t, ln, _, _) in rep.cells if ln == line})
    if not buckets:
        return "<p>No crossings.</p>"
    per = {t: [0, 0] for t in buckets}
    for (t, ln, d, _), n in rep.cells.items():
        if ln == line:
            per[t][0 if d == "in" else 1] += n
    top = max(max(v) for v in per.values()) or 1
    bw, gap, h = 14, 10, 160
    width = len(buckets) * (2 * bw + gap) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h + 40}" role="img" '
             f'aria-label="crossings of {html.escape(line)} per interval">']
    for i, t in enumerate(buckets):
        x = 30 + i * (2 * bw + gap)
        for k, colour in ((0, "#1f5fa8"), (1, "#8fb8e8")):
            bh = per[t][k] / top * h
            parts.append(f'<rect x="{x + k * bw}" y="{h - bh + 10:.1f}" width="{bw - 1}" height="{bh:.1f}" '
                         f'fill="{colour}"><title>{_local(t)} {"in" if k == 0 else "out"}: {per[t][k]}</title></rect>')
        parts.append(f'<text x="{x}" y="{h + 28}" font-size="9">{time.strftime("%H:%M", time.localtime(t))}</text>')
    parts.append(f'<text x="0" y="18" font-size="10">{top}</text><text x="0" y="{h + 10}" font-size="10">0</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(rep: JobReport) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(r['start_local'])}</td><td>{e(r['line'])}</td><td>{r['direction']}</td>"
                   f"<td>{e(r['class'])}</td><td class=n>{r['count']}</td></tr>" for r in rep.intervals())
    def per_class(lc: LineCounts) -> str:
        return ", ".join(f"{c} {v.get('in', 0)}/{v.get('out', 0)}" for c, v in sorted(lc.by_class.items()))

    totals = "".join(f"<tr><th>{e(name)}</th><td class=n>{lc.in_total}</td><td class=n>{lc.out_total}</td>"
                     f"<td>{e(per_class(lc))}</td></tr>" for name, lc in sorted(rep.counts.items()))
    charts = "".join(f"<h2>{e(name)}</h2>{_chart(rep, name)}" for name in sorted(rep.counts))
    missing = ("<h2>Missing stretches (the result is partial)</h2><ul>" + "".join(
        f"<li>{e(m['file'])}: {m['start_s']} s to {m['end_s']} s: {e(m['reason'])}</li>" for m in rep.missing)
        + "</ul>") if rep.missing else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>CamPool job {e(rep.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #aaa;
padding:2px 8px}}td.n{{text-align:right}}@media print{{h2{{page-break-before:auto}}}}</style></head><body>
<h1>Traffic count: {e(rep.name)}</h1>
<p>Recording {e(_local(rep.start))} to {e(_local(rep.end))}; interval {rep.interval_s / 60:g} min; state {e(rep.state)};
{rep.segments} segment(s), {rep.retried} retried.</p>
<h2>Totals</h2><table><tr><th>line</th><th>in</th><th>out</th><th>by class (in/out)</th></tr>{totals}</table>
{missing}{charts}
<h2>Per interval</h2><table><tr><th>interval start</th><th>line</th><th>direction</th><th>class</th><th>count</th></tr>
{rows}</table></body></html>
"""
