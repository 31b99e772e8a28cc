"""What the app shows, read from the registry off the UI thread.

The app never touches the registry from its event loop: a :class:`Catalog`
runs in worker threads, reads through the registry's public API, and hands back plain,
immutable values (:class:`ModelSummary`, :class:`VersionRow`, :class:`Update`)
that the widgets render. Nothing here imports Textual.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from store.metrics import lower_is_better, to_number
from store.versions import sort_key

if TYPE_CHECKING:
    from store.backends.protocol import Feed, SyncStatus
    from store.registry import Registry

SPARK = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 12


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One line of the Models pane."""

    name: str
    count: int
    live: dict[str, str]  # env -> version
    metric: str | None
    best: float | int | None
    best_version: str | None
    spark: str


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version as the Versions and Detail panes need it; ``doc`` is the registry's
    document itself (documents are replaced on change, never edited in place)."""

    doc: dict[str, Any]
    live: tuple[str, ...] = ()  # environments where this version is live

    @property
    def ref(self) -> str:
        return f"{self.doc['model']}:{self.doc['version']}"

    @property
    def version(self) -> str:
        return self.doc["version"]

    @property
    def size(self) -> int:
        return sum(a.get("size") or 0 for a in self.doc.get("artifacts", ()))

    @property
    def unsafe(self) -> bool:
        scan = self.doc.get("scan")
        return bool(scan) and not scan.get("safe", False)


@dataclass(frozen=True)
class ModelView:
    """A model's versions (oldest first) with what is needed to judge its metrics."""

    model: str
    rows: list[VersionRow]
    primary: str | None = None
    directions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Activity:
    """One thing that happened, for the activity line and log."""

    kind: str  # registered | updated | removed | deploy | rollback | problem | info | missing
    message: str
    ref: str | None = None


@dataclass(frozen=True)
class RowsPatch:
    """Only the selected model's versions that were added or changed (their ``live`` as now):
    the table updates those rows in place, so the cost does not grow with the model."""

    model: str
    rows: list[VersionRow]


@dataclass(frozen=True)
class Update:
    """What changed since the last poll, with fresh data for what the app shows."""

    names: list[str] | None  # the full model list when it changed
    summaries: dict[str, ModelSummary]
    view: ModelView | None  # fresh rows of the selected model, when they must all be shown again
    new_refs: frozenset[str] = frozenset()
    events: list[Activity] = field(default_factory=list)
    history_changed: bool = False
    patch: RowsPatch | None = None  # else: just these rows of the selected model changed
    # Models whose summaries changed but are not in ``summaries``: worked out after the rows are
    # shown (a summary reads every version of its model; the new row should not wait for that).
    later: frozenset[str] = frozenset()


def sparkline(values: Iterable[float | int | None], points: int | None = SPARK_POINTS) -> str:
    """The last ``points`` values (all if None) as ▁▂▃▄▅▆▇█, lowest to highest; a gap for a
    version without the metric, and a flat series at mid height."""
    tail = list(values)[-points:] if points else list(values)
    numbers = [v for v in tail if v is not None]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    span = high - low
    top = len(SPARK) - 1
    return "".join(" " if v is None else SPARK[round((v - low) / span * top) if span else top // 2] for v in tail)


class Catalog:
    """Reads for the app. Every method is meant for a worker thread."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.token = registry.token()
        self._max_version_id = 0
        self._seen: dict[str, dict[str, Any]] = {}
        self.sync: SyncStatus | None = registry.sync_status()  # on a server: synced when, writing, offline why
        self._said_offline = False  # the activity line said the server is gone (and not yet that it is back)

    # -- first look -------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        with self.registry.reading():
            self.token = self.registry.token()
            self._max_version_id = self.registry.last_version_id()
            # What each version was when last seen, to say what changed (documents are replaced on
            # change, never edited in place, so these are references, not copies).
            self._seen = {f"{d['model']}:{d['version']}": d for d in self.registry.all_version_docs()}
            return self.registry.model_names()

    def environments(self) -> list[str]:
        with self.registry.reading(refresh=False):
            envs = list(self.registry.config.environments)
            envs += sorted({d["env"] for d in self.registry.live_entries()} - set(envs))
            return envs

    def view(self, model: str) -> ModelView:
        with self.registry.reading(refresh=False):
            primary = self.registry.primary_metric(model)  # None for an unknown model
            directions = self.registry.directions(model)
            return ModelView(model, self.rows(model), primary, directions)

    def rows(self, model: str) -> list[VersionRow]:
        """The model's versions, oldest first (an unknown model has none)."""
        with self.registry.reading(refresh=False):
            live: dict[str, list[str]] = {}
            for doc in self.registry.live_entries():
                if doc["model"] == model:
                    live.setdefault(doc["version"], []).append(doc["env"])
            return [VersionRow(doc, tuple(sorted(live.get(doc["version"], ())))) for doc in self.registry.version_docs(model)]

    def summaries(self, names: Iterable[str]) -> dict[str, ModelSummary]:
        with self.registry.reading(refresh=False):
            live: dict[str, dict[str, str]] = {}
            for doc in self.registry.live_entries():
                live.setdefault(doc["model"], {})[doc["env"]] = doc["version"]
            return {name: self._summary(name, live.get(name, {})) for name in names}

    def _summary(self, name: str, live: dict[str, str]) -> ModelSummary:
        docs = self.registry.version_docs(name)
        metric = self.registry.primary_metric(name)  # None for an unknown model
        values: list[float | int | None] = []
        best = best_version = None
        if metric is not None:
            lower = lower_is_better(metric, self.registry.directions(name))
            for doc in docs:
                value = to_number(doc.get("metrics", {}).get(metric))
                values.append(value)
                if value is not None and (best is None or (value <= best if lower else value >= best)):
                    best, best_version = value, doc["version"]
        return ModelSummary(name, len(docs), dict(sorted(live.items())), metric, best, best_version, sparkline(values))

    # -- keeping up ------------------------------------------------------------------------------

    def poll(self, selected: str | None, force_rows: bool = False) -> Update | None:
        """Changes from any process since the last poll, as one batched :class:`Update`."""
        with self.registry.reading(refresh=False):
            changes = self.registry.feed(self.token)
            said = self._sync_said()
            if not changes and not force_rows:
                return Update(None, {}, None, events=said) if said else None
            self.token = changes.token
            if changes.reset:
                names = self.model_names()
                view = self.view(selected) if selected else None
                return Update(names, self.summaries(names), view, events=[Activity("info", "registry reloaded")], history_changed=True)
            update = self._update(changes, selected, force_rows)
            update.events[:0] = said
            return update

    def _sync_said(self) -> list[Activity]:
        """A line when a server's registry goes offline or comes back (reads go on from the replica);
        ``sync`` keeps the status for the app's indicator."""
        self.sync = status = self.registry.sync_status()
        offline = status is not None and status.state == "offline"
        if offline == self._said_offline:
            return []
        self._said_offline = offline
        if status is not None and offline:
            return [Activity("problem", f"offline, read-only: {status.reason}; showing what was last synced")]
        return [Activity("info", "the server answers again: back in sync")]

    def _update(self, feed: Feed, selected: str | None, force_rows: bool) -> Update:
        dirty: set[str] = set()
        new_refs: set[str] = set()
        events: list[Activity] = []
        names_changed = history_changed = everything = False
        # The selected model's changed version documents, while nothing else about it changed
        # (a deploy, a new primary metric or a removal shows it all again).
        patched: dict[str, dict[str, Any]] | None = {}
        # Each kind in document order (history, live, models, versions: as the feed has always been read).
        changed = [("history", *c) for c in feed.history] + [("live", *c) for c in feed.live]
        changed += [("models", *c) for c in feed.models] + [("versions", *c) for c in feed.versions]
        for table, doc_id, doc in changed:
            if table == "versions":
                if doc is None:
                    everything = True  # removed: we no longer know whose it was
                    events.append(Activity("removed", "a version was removed"))
                    continue
                dirty.add(doc["model"])
                if doc["model"] == selected and patched is not None:
                    patched[doc["version"]] = doc
                ref = f"{doc['model']}:{doc['version']}"
                if int(doc_id) > self._max_version_id:
                    self._max_version_id = int(doc_id)
                    new_refs.add(ref)
                    events.append(Activity("registered", f"registered {ref}", ref))
                else:
                    events.append(Activity("updated", f"updated {ref}: {what_changed(self._seen.get(ref), doc)}", ref))
                self._seen[ref] = doc
            elif table == "models":
                names_changed = True
                if doc is not None:
                    dirty.add(doc["name"])
                if doc is None or doc["name"] == selected:
                    patched = None
            elif table == "live":
                if doc is None:
                    everything = True
                else:
                    dirty.add(doc["model"])
                if doc is None or doc["model"] == selected:
                    patched = None
            elif table == "history":
                history_changed = True
                if doc is not None:
                    events.append(_history_activity(doc))
        names = self.registry.model_names() if names_changed or everything else None
        if everything:
            dirty = set(names or ())
        patch = None
        if selected and patched and not (everything or force_rows):
            patch = self._patch(selected, patched)
        later = frozenset(dirty) if patch is not None and names is None else frozenset()
        summaries = {} if later else self.summaries(dirty)
        view = self.view(selected) if selected and patch is None and (selected in dirty or force_rows) else None
        return Update(names, summaries, view, frozenset(new_refs), events, history_changed, patch, later)

    def _patch(self, model: str, docs: dict[str, dict[str, Any]]) -> RowsPatch:
        live: dict[str, list[str]] = {}
        for doc in self.registry.live_entries():
            if doc["model"] == model and doc["version"] in docs:
                live.setdefault(doc["version"], []).append(doc["env"])
        rows = [VersionRow(docs[v], tuple(sorted(live.get(v, ())))) for v in sorted(docs, key=sort_key)]
        return RowsPatch(model, rows)


def what_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """A version's change in a few words: "status completed → deployed", "tags +best −draft",
    "accuracy 0.91 → 0.93"."""
    if old is None:
        return "changed"
    parts = []
    if old.get("status") != new.get("status"):
        parts.append(f"status {old.get('status')} → {new.get('status')}")
    before, after = set(old.get("tags", ())), set(new.get("tags", ()))
    if before != after:
        parts.append("tags " + " ".join([*(f"+{t}" for t in sorted(after - before)), *(f"−{t}" for t in sorted(before - after))]))
    metrics_before, metrics_after = old.get("metrics", {}), new.get("metrics", {})
    for name in sorted(set(metrics_before) | set(metrics_after)):
        if metrics_before.get(name) != metrics_after.get(name):
            parts.append(f"{name} {metrics_before.get(name, '—')} → {metrics_after.get(name, '—')}")
    skip = {"status", "tags", "metrics"}
    others = sorted(k for k in set(old) | set(new) if k not in skip and old.get(k) != new.get(k))
    if others:
        parts.append(", ".join(others) + " changed")
    return "; ".join(parts) or "no visible change"


def _history_activity(doc: dict[str, Any]) -> Activity:
    ref = f"{doc.get('model')}:{doc.get('to')}" if doc.get("to") else None
    what = doc.get("action", "deploy")
    if not doc.get("ok", True):
        return Activity("problem", f"{what} of {doc.get('model')} to {doc.get('env')} failed: {doc.get('reason') or 'see history'}", ref)
    moved = f"{doc.get('from') or 'nothing'} → {doc.get('to') or 'nothing'}"
    return Activity(what, f"{what} {doc.get('model')} in {doc.get('env')}: {moved} by {doc.get('by', '?')}", ref)
