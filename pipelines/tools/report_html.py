"""The HTML report of `winnow stats --html FILE`: one self-contained file with inline SVG plots.

No JavaScript and nothing fetched: the plots are SVG written here (bars are `<rect>`s with a `<title>`
tooltip each), the style is one inline `<style>`, and the stats JSON rides along in a
`<script type="application/json" id="winnow-stats">` block (data, never executed) so the page is also a
machine-readable record. It opens offline in any browser and prints as it shows. Every plot is an
`<svg class="plot" data-plot="NAME">`; the names are listed in `DOCUMENT_PLOTS` and `SHARD_PLOTS`.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

DOCUMENT_PLOTS = ("funnel", "length_histogram", "source_mix", "language_mix", "cluster_sizes", "top_domains",
                  "code_languages", "rejected_reasons")
SHARD_PLOTS = ("source_mix", "padding", "segment_length_histogram", "segments_per_sequence", "top_tokens")

COLORS = {"kept": "#2e7d32", "dropped": "#ef6c00", "errors": "#c62828", "bar": "#1565c0", "pad": "#9e9e9e"}
PALETTE = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#c62828", "#5d4037", "#9e9d24", "#ad1457",
           "#455a64")
FONT = 12
LABEL_W = 150
WIDTH = 720
# JSON inside <script> holds no `<`, `>` or `&` at all, only their \u escapes (the same JSON): `</script` would
# close the element early, and `<!--` followed by `<script` puts the HTML parser in a state where the element
# runs to the end of the page. U+2028/2029 are line ends to older JavaScript parsers.
SCRIPT_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                                     "\u2029": "\\u2029"})


# Sources shown one by one in the terminal tables and the source-mix plot; the rest are summed on one line (a
# corpus whose `source` is a URL or a file path has one per document: 300,000 of them printed 300,000 lines and
# made a 152 MB page). The JSON (`--json`, and the copy inside the page) keeps every source.
SHOWN_SOURCES = 30
SOURCE_MIX_SEGMENTS = 12


def top_with_rest(items: Dict[str, Dict[str, Any]], n: int, metrics: Sequence[str]) -> List[Tuple[str, Dict[str, Any]]]:
    """`items` (name -> figures) as a list: all of them when there are at most `n`, else the `n - 1` largest by
    the first of `metrics` (ties by name) and one `(K other sources)` entry holding the sums of `metrics` over
    the K others."""
    rows = list(items.items())
    if len(rows) <= n:
        return rows
    rows.sort(key=lambda kv: (-(kv[1].get(metrics[0]) or 0), kv[0]))
    shown, rest = rows[:n - 1], rows[n - 1:]
    return shown + [(f"({len(rest):,} other sources)", {m: sum(v.get(m) or 0 for _, v in rest) for m in metrics})]


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (null): `json.dumps` would write the bare
    tokens `NaN`/`Infinity`, which are not JSON (`JSON.parse` and strict parsers reject the whole document). A
    damaged manifest or report.json can hold them; the figures read from it are shown, as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def dumps_stats(stats: Dict[str, Any], **kwargs: Any) -> str:
    """The stats as strict JSON (`finite_json`, then `allow_nan=False` so a missed case fails here, not in a
    reader): what `winnow stats --json` prints and the HTML page embeds."""
    return json.dumps(finite_json(stats), default=str, allow_nan=False, **kwargs)


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _num(v: float) -> str:
    if isinstance(v, float) and 0 < v < 1:
        return f"{v:.2%}"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def _svg(name: str, title: str, width: int, height: int, body: List[str]) -> str:
    return (f'<figure><figcaption>{_e(title)}</figcaption>'
            f'<svg class="plot" data-plot="{_e(name)}" role="img" aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
            f'font-size="{FONT}"><title>{_e(title)}</title>' + "".join(body) + "</svg></figure>")


def hbar_chart(name: str, title: str, items: Sequence[Tuple[str, float]], color: str = COLORS["bar"]) -> str:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    items = list(items)
    if not items:
        return ""
    row, top = 20, 6
    vmax = max(v for _, v in items) or 1
    plot_w = WIDTH - LABEL_W - 90
    body = []
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = max(1.0, plot_w * value / vmax) if value else 0
        body.append(f'<text x="{LABEL_W - 6}" y="{y + 14}" text-anchor="end">{_e(_short(label))}</text>'
                    f'<rect class="bar" x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
                    f'<title>{_e(label)}: {_e(_num(value))}</title></rect>'
                    f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 14}">{_e(_num(value))}</text>')
    return _svg(name, title, WIDTH, top * 2 + row * len(items), body)


def stacked_hbar_chart(name: str, title: str, rows: Sequence[Tuple[str, Sequence[Tuple[str, float, str]]]],
                       scale_to_max: bool = True) -> str:
    """One bar per row, split into (part, value, color) segments; a legend of the parts underneath."""
    rows = list(rows)
    if not rows:
        return ""
    row, top = 24, 6
    totals = [sum(v for _, v, _ in parts) for _, parts in rows]
    vmax = max(totals) or 1
    plot_w = WIDTH - LABEL_W - 110
    body, legend = [], {}
    for i, ((label, parts), total) in enumerate(zip(rows, totals)):
        y, x = top + i * row, float(LABEL_W)
        body.append(f'<text x="{LABEL_W - 6}" y="{y + 16}" text-anchor="end">{_e(_short(label))}</text>')
        denom = vmax if scale_to_max else (total or 1)
        for part, value, color in parts:
            legend[part] = color
            w = plot_w * value / denom
            if value:
                body.append(f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 6}" '
                            f'fill="{color}"><title>{_e(label)} {_e(part)}: {_e(_num(value))}</title></rect>')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 16}">{_e(_num(total))}</text>')
    y = top + len(rows) * row + 6
    x = LABEL_W
    for part, color in legend.items():
        body.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color}"/>'
                    f'<text x="{x + 16}" y="{y + 11}">{_e(part)}</text>')
        x += 24 + 8 * len(part)
    return _svg(name, title, WIDTH, y + 20, body)


def vbar_chart(name: str, title: str, bins: Sequence[Tuple[str, float]], x_title: str, y_title: str,
               color: str = COLORS["bar"]) -> str:
    """Vertical bars (a histogram over labelled bins), y axis from 0 to the largest count."""
    bins = list(bins)
    if not bins:
        return ""
    left, bottom, top, height = 60, 80, 12, 280
    plot_h = height - top - bottom
    plot_w = WIDTH - left - 10
    bw = plot_w / len(bins)
    vmax = max(v for _, v in bins) or 1
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - 10}" y2="{top + plot_h}" stroke="#333"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>']
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_e(_num(round(vmax * frac)))}</text>')
    for i, (label, value) in enumerate(bins):
        h = plot_h * value / vmax
        x = left + i * bw
        body.append(f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{color}"><title>{_e(label)}: {_e(_num(value))}</title></rect>')
        cx, cy = x + bw / 2, top + plot_h + 8
        body.append(f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" transform="rotate(-45 {cx:.1f} {cy:.1f})">'
                    f'{_e(label)}</text>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">{_e(x_title)}</text>'
                f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{_e(y_title)}</text>')
    return _svg(name, title, WIDTH, height, body)


def _short(label: Any, n: int = 22) -> str:
    s = str(label)
    return s if len(s) <= n else s[: n - 1] + "…"


def _hist_bins(hist: List[Dict[str, int]]) -> List[Tuple[str, int]]:
    def k(v: int) -> str:
        return f"{v / 1e6:.3g}M" if v >= 1e6 else (f"{v / 1e3:.3g}k" if v >= 1e4 else str(v))

    return [(f"{k(b['min'])}-{k(b['max'])}", b["count"]) for b in hist]


def document_plots(stats: Dict[str, Any]) -> List[str]:
    plots = []
    if stats.get("funnel"):
        plots.append(stacked_hbar_chart("funnel", "Filter funnel (report.json): documents in per stage", [
            (s["name"], [("kept", s["kept"], COLORS["kept"]), ("dropped", s["dropped_total"], COLORS["dropped"]),
                         ("errors", s["errors"], COLORS["errors"])]) for s in stats["funnel"]]))
    plots.append(vbar_chart("length_histogram", "Document length (characters, log2 bins)",
                            _hist_bins(stats["length_histogram_chars"]), "characters", "documents"))
    sources = top_with_rest(stats["by_source"], SOURCE_MIX_SEGMENTS, ("documents", "characters"))
    plots.append(stacked_hbar_chart("source_mix", "Source mix: documents and characters (share of total)", [
        (metric, [(src, v[metric], PALETTE[i % len(PALETTE)]) for i, (src, v) in enumerate(sources)])
        for metric in ("documents", "characters")], scale_to_max=False))
    plots.append(hbar_chart("language_mix", "Languages (documents, top 15)",
                            [(k, v["documents"]) for k, v in list(stats["by_language"].items())[:15]]))
    if stats["dedup_cluster_sizes"]:
        plots.append(vbar_chart("cluster_sizes", "Dedup cluster sizes of kept documents",
                                list(stats["dedup_cluster_sizes"].items()), "cluster size", "documents"))
    if stats["top_domains"]:
        plots.append(hbar_chart("top_domains", "Top domains (documents)",
                                [(d["name"], d["documents"]) for d in stats["top_domains"]]))
    if stats["top_code_languages"]:
        plots.append(hbar_chart("code_languages", "Top code languages (documents)",
                                [(d["name"], d["documents"]) for d in stats["top_code_languages"]]))
    if stats.get("rejected_by_stage_reason"):
        plots.append(hbar_chart("rejected_reasons", "Rejected rows by stage/reason",
                                [(f"{r['stage']}/{r['reason']}", r["rows"]) for r in stats["rejected_by_stage_reason"][:15]],
                                color=COLORS["dropped"]))
    return plots


def shard_plots(stats: Dict[str, Any]) -> List[str]:
    plots = []
    sources = top_with_rest(stats["by_source"], SOURCE_MIX_SEGMENTS, ("documents", "tokens"))
    plots.append(stacked_hbar_chart("source_mix", "Source mix: documents and tokens (share of total)", [
        (metric, [(src, v[metric], PALETTE[i % len(PALETTE)]) for i, (src, v) in enumerate(sources)])
        for metric in ("documents", "tokens")], scale_to_max=False))
    f = stats["files"]
    plots.append(stacked_hbar_chart("padding", "Tokens in the shards: document tokens and padding", [
        ("tokens", [("document", f["non_pad_tokens"], COLORS["kept"]), ("padding", f["pad_tokens"], COLORS["pad"])])]))
    plots.append(vbar_chart("segment_length_histogram", "Document segment length (tokens, log2 bins)",
                            _hist_bins(stats["segment_length_histogram_tokens"]), "tokens", "segments"))
    if stats.get("document_length_histogram_tokens"):
        plots.append(vbar_chart("document_length_histogram", "Document length (tokens, log2 bins, from doc_ids)",
                                _hist_bins(stats["document_length_histogram_tokens"]), "tokens", "documents"))
    plots.append(vbar_chart("segments_per_sequence", "Documents per packed sequence",
                            list(stats["segments_per_sequence"].items()), "segments in the row", "sequences"))
    plots.append(hbar_chart("top_tokens", "Most frequent tokens (padding excluded)",
                            [(repr(t["text"]) if t["text"] is not None else f"id {t['id']}", t["count"])
                             for t in stats["top_tokens"]]))
    return plots


CSS = """
body{font-family:sans-serif;margin:2em auto;max-width:960px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}
svg.plot{max-width:100%;height:auto;background:#fafafa;border:1px solid #eee}
svg.plot rect.bar:hover{opacity:.75}
svg.plot text{white-space:pre}
pre{background:#f5f5f5;padding:1em;overflow-x:auto;font-size:12px}
.checks-ok{color:#2e7d32}.checks-bad{color:#c62828;font-weight:bold}
"""


def render_report(stats: Dict[str, Any], tables: str, title: Optional[str] = None) -> str:
    """The page for `stats`, with `tables` (the text `winnow stats` prints, pipelines.tools.stats.format_stats) under
    the plots: passed in, so that this module and stats.py do not import each other."""
    kind = stats["kind"]
    title = title or f"Winnow stats: {kind} at {stats['path']}"
    plots = document_plots(stats) if kind == "documents" else shard_plots(stats)
    checks = stats.get("manifest_checks") if kind == "shards" else stats.get("report_checks")
    checks_html = ""
    if checks is not None:
        ok = checks == ["ok"]
        checks_html = (f'<p class="{"checks-ok" if ok else "checks-bad"}" id="checks">'
                       f'{"manifest" if kind == "shards" else "report"} checks: {_e("; ".join(checks))}</p>')
    data = dumps_stats(stats, sort_keys=False).translate(SCRIPT_JSON_ESCAPES)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1>{checks_html}<h2>Plots</h2>" + "\n".join(p for p in plots if p) +
            f"<h2>Tables</h2><pre>{_e(tables)}</pre>"
            f"<script type=\"application/json\" id=\"winnow-stats\">{data}</script>"
            "</body></html>\n")
