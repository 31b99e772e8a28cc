"""The Detail pane: everything about the selected version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import RichLog

from store.metric_history import all_series, drift
from store.metrics import lower_is_better, to_number
from store.records import Version
from store.signatures import describe as describe_signature
from tui.catalog import VersionRow, sparkline
from tui.output import size
from tui.safe_text import literal
from tui.widgets.models import number
from tui.widgets.versions import age, badge

BAR_WIDTH = 20
TOP_FEATURES = 12


@dataclass(frozen=True)
class Extras:
    """What the Detail pane needs beyond the version document, read in a worker."""

    ref: str
    children: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def heading(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


KEY_MAX = 24  # a longer key is cut with … so the values keep their column


def pairs(items: Iterable[tuple[Any, Any]], key_style: str = "bold") -> Text:
    """Literal keys and values, the values aligned in one column per section, two cells
    right of the widest key (plain Text: cheap to render).

    The gap is part of the key's own span: an SVG renderer that drops a text run's leading
    spaces (rsvg does) would otherwise butt the value against the key.
    """
    items = [(literal(key, key_style, single_line=True), value if isinstance(value, Text) else literal(show_value(value))) for key, value in items]
    width = min(KEY_MAX, max((key.cell_len for key, _ in items), default=0))
    block = Text()
    for index, (key, value) in enumerate(items):
        if index:
            block.append("\n")
        key.truncate(width, overflow="ellipsis", pad=True)
        key.append("  ")
        block.append_text(key)
        block.append_text(value)
    return block


def show_value(value: Any) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={show_value(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def bar(value: float, top: float, width: int = BAR_WIDTH) -> Text:
    """A horizontal bar of ``value`` against ``top`` in eighths of a cell."""
    if top <= 0:
        return Text("")
    eighths = int(round(abs(value) / top * width * 8))
    full, part = divmod(eighths, 8)
    return Text("█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else ""), style="cyan")


def importances(estimator: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Feature importances (or coefficient magnitudes) as (feature, value), largest first,
    from whatever shape ``store.safety.estimators.describe`` recorded."""
    raw = estimator.get("feature_importances")
    if raw is None:
        raw = estimator.get("coef") or estimator.get("coefficients")
    names = list(estimator.get("feature_names_in") or estimator.get("feature_names") or [])
    pairs_: list[tuple[str, float]] = []
    if isinstance(raw, Mapping):
        for key in ("top", "values", "importances"):
            if key in raw:
                return importances({"feature_importances": raw[key], "feature_names_in": names})
        pairs_ = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, (list, tuple)):
        for i, item in enumerate(raw):
            if isinstance(item, Mapping):
                pairs_.append((str(item.get("feature", item.get("name", i))), item.get("importance", item.get("value"))))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs_.append((str(item[0]), item[1]))
            else:
                pairs_.append((names[i] if i < len(names) else f"x{i}", item))
    clean = [(name, float(v)) for name, v in pairs_ if to_number(v) is not None]
    return sorted(clean, key=lambda p: -abs(p[1]))[:TOP_FEATURES]


def render(row: VersionRow | None, extras: Extras | None, directions: Mapping[str, str] | None = None, best: Mapping[str, float] | None = None) -> Text:
    """The whole detail of one version as Rich renderables (no markup anywhere)."""
    if row is None:
        return Text("No version selected.", style="dim")
    doc = row.doc
    parts: list[Text] = []
    title = literal(row.ref + "  ", "bold", single_line=True)
    pieces = [badge(doc["status"])]
    for shown, text, style in ((row.live, f"● live in {', '.join(row.live)}", "bold green"),
                               (doc.get("missing"), "! files missing", "bold red"), (row.unsafe, "⚠ unsafe", "bold red")):
        if shown:
            pieces[-1].append("  ")  # gaps end a run rather than start one (see pairs)
            pieces.append(Text(text, style=style))
    for piece in pieces:
        title.append_text(piece)
    parts.append(title)
    facts = [
        ("registered", f"{age(doc.get('created_at', ''))} ({doc.get('created_at', '')})" if doc.get("created_at") else None),
        ("by", doc.get("registered_by")),
        ("parent", doc.get("parent")),
        ("git commit", doc.get("git_commit")),
        ("training data", doc.get("training_data")),
        ("tags", doc.get("tags")),
        ("sidecar", doc.get("source")),
        ("signature", describe_signature(doc.get("signature"))),
        ("script", f"{doc['source_file']} (sha256 {str(doc.get('source_sha256') or '')[:12]})" if doc.get("source_file") else None),
    ]
    parts.append(pairs((k, v) for k, v in facts if v))
    if doc.get("notes"):
        parts += [heading("Notes"), literal(doc["notes"])]
    if doc.get("problems"):
        parts += [heading("Problems"), *(literal(f"! {p}", "bold red") for p in doc["problems"])]
    metrics = doc.get("metrics") or {}
    if metrics:
        parts.append(heading("Metrics"))
        shown = []
        changes = metric_changes(doc, directions)
        for name, value in metrics.items():
            cell = Text(number(value) + "  ")
            direction = "↓" if lower_is_better(name, directions) else "↑"
            cell.append(direction, style="dim")
            if name in changes:  # its values over time, and ▼ with the drop when evaluations fall
                spark, drop = changes[name]
                cell.append(f"  {spark}", style="cyan")
                if drop is not None:
                    cell.append(f"  ▼ {drop:+.4g}", style="bold red")
            if best and best.get(name) == value:
                cell.append("  ")
                cell.append("★ best", style="bold yellow")
            shown.append((name, cell))
        parts.append(pairs(shown))
    for section, title_ in (("params", "Params"), ("training", "Training")):
        if doc.get(section):
            parts += [heading(title_), pairs(doc[section].items())]
    if doc.get("artifacts"):
        parts += [heading("Artifacts"), artifacts(doc["artifacts"], doc.get("scan"))]
    if doc.get("estimator"):
        parts += [heading("Estimator"), *estimator(doc["estimator"])]
    if doc.get("extra"):
        parts += [heading("Extra"), pairs(doc["extra"].items())]
    parts.append(heading("Lineage"))
    lineage = [("parent", doc.get("parent") or "—")]
    if extras is not None and extras.ref == row.ref:
        lineage.append(("children", ", ".join(extras.children) or "—"))
    parts.append(pairs(lineage))
    parts.append(heading("Deploy history"))
    parts.append(history(extras.history if extras is not None and extras.ref == row.ref else None))
    return Text("\n").join(part for part in parts if part.plain)


def metric_changes(doc: Mapping[str, Any], directions: Mapping[str, str] | None) -> dict[str, tuple[str, float | None]]:
    """{metric: (sparkline of its history, drop or None)} for metrics that changed after registration."""
    if not doc.get("metric_history"):
        return {}
    version = Version.from_doc(doc)
    drifting = drift(version, directions)
    return {
        name: (sparkline([p["value"] for p in points], None), drifting[name]["drop"] if name in drifting else None)
        for name, points in all_series(version).items() if len(points) > 1
    }


def artifacts(records: Iterable[Mapping[str, Any]], scan: Mapping[str, Any] | None) -> Text:
    rows: list[Text] = []
    for record in records:
        line = literal(record.get("path", "?"), "bold", single_line=True)
        rows.append(line)
        info = []
        if record.get("size") is not None:
            info.append(("size", size(record["size"])))
        if record.get("sha256"):
            info.append(("sha256", record["sha256"]))
        for key in ("name", "role", "kind", "framework"):
            if record.get(key):
                info.append((key, record[key]))
        rows.append(pairs(info, key_style="dim"))
    if scan:
        verdict = scan.get("verdict") or ("safe" if scan.get("safe") else "unsafe")
        text = Text("scan: ", style="bold")
        text.append(("✓ " if scan.get("safe") else "⚠ ") + str(verdict), style="green" if scan.get("safe") else "bold red")
        if scan.get("reason"):
            text.append_text(literal(f" — {scan['reason']}", single_line=True))
        rows.append(text)
        if scan.get("imports"):
            rows.append(literal("imports: " + ", ".join(map(str, scan["imports"])), "dim"))
    else:
        rows.append(Text("scan: not scanned", style="dim"))
    return Text("\n").join(rows)


def estimator(info: Mapping[str, Any]) -> list[Text]:
    facts = [(k, info.get(k)) for k in ("class", "sklearn_version", "n_features_in", "classes") if info.get(k) not in (None, "", [])]
    parts: list[Text] = [pairs(facts)]
    features = importances(info)
    if features:
        top = max(abs(v) for _, v in features)
        width = min(24, max(len(name) for name, _ in features))
        lines = Text("feature importances", style="italic")
        for name, value in features:
            label = literal(name, single_line=True)
            label.truncate(width, pad=True)
            lines.append("\n")
            lines.append_text(label)
            lines.append(" ")
            drawn = bar(value, top)
            lines.append_text(drawn)
            lines.append(" " * (BAR_WIDTH - drawn.cell_len + 1))
            lines.append(number(value))
        parts.append(lines)
    return parts


def history(entries: list[dict[str, Any]] | None) -> Text:
    if entries is None:
        return Text("loading…", style="dim")
    if not entries:
        return Text("never deployed", style="dim")
    lines = []
    for entry in entries[-10:][::-1]:
        mark = "✓" if entry.get("ok", True) else "✗"
        text = Text(f"{mark} ", style="green" if entry.get("ok", True) else "bold red")
        text.append_text(literal(
            f"{entry.get('at', '')[:19]} {entry.get('action', '')} {entry.get('env', '')}: "
            f"{entry.get('from') or '—'} → {entry.get('to') or '—'} by {entry.get('by', '?')}"
            + (f" ({entry['reason']})" if entry.get("reason") else "")
            + (" (trusted past the safety scan)" if entry.get("trusted") else ""),
            single_line=True,
        ))
        lines.append(text)
    return Text("\n").join(lines)


class DetailPane(RichLog):
    """The detail, scrollable with j/k and the arrows.

    A RichLog rather than a Static in a scroll container: its lines are rendered once per
    version and scrolled virtually, so showing another version never re-lays out the screen.
    """

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("left", "screen.pane_left", "Pane left", show=False),
    ]

    # Its box never depends on its content (CSS sizes it and always shows the vertical
    # scrollbar), so a new line count must not re-lay out the whole screen.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self) -> None:
        super().__init__(id="detail", wrap=True, markup=False, highlight=False, auto_scroll=False, min_width=20)
        self.border_title = "Detail"
        self.can_focus = True
        self.row: VersionRow | None = None
        self.extras: Extras | None = None

    def on_mount(self) -> None:
        self.write(Text("Loading…", style="dim"))

    def show(self, row: VersionRow | None, extras: Extras | None = None, directions: Mapping[str, str] | None = None, best: Mapping[str, float] | None = None) -> None:
        same = row is not None and self.row is not None and row.ref == self.row.ref
        self.row = row
        if extras is not None:
            self.extras = extras
        scroll = self.scroll_offset
        self.clear()
        self.write(render(row, self.extras, directions, best), scroll_end=False)
        # The same version keeps its place; another one opens at its top.
        self.scroll_to(scroll.x if same else 0, scroll.y if same else 0, animate=False, immediate=True)
        bar = self.vertical_scrollbar
        bar.window_virtual_size = self.virtual_size.height
        bar.window_size = self.scrollable_content_region.height

    def text(self) -> str:
        """What the pane holds, as plain text (for tests)."""
        return "\n".join(strip.text for strip in self.lines)
