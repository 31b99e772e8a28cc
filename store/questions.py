"""Questions across versions: find with a filter, the best version, metric directions, what is live.

A part of :class:`store.registry.Registry` (it inherits these methods); every answer reads the
backend's replica under its lock, caught up with other writers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from store import versions as version_rules
from store.backends.index import VersionIndex
from store.backends.protocol import Backend
from store.config import Config
from store.errors import UnknownVersion
from store.filters import compile_filter
from store.lifecycle import check_status
from store.metrics import lower_is_better, to_number
from store.reading import caught_up
from store.records import Version


class Questions:
    """Registry's methods that answer questions across versions."""

    _backend: Backend
    _index: VersionIndex
    config: Config

    @caught_up
    def find(
        self,
        where: str | Callable[[dict[str, Any]], bool] | None = None,
        *,
        model: str | None = None,
        tags: Iterable[str] = (),
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Version]:
        """Versions across models matching a filter expression (or a callable over the document)."""
        predicate = compile_filter(where) if isinstance(where, str) else where
        wanted_tags = set(tags)
        if status is not None:
            check_status(status)
        if model is not None:
            self._require_model(model)
            table = self._backend.versions()
            docs = [table[i] for i in self._index.by_model.get(model, {}).values()]
        else:
            docs = self._backend.version_docs()
        found = [
            d
            for d in docs
            if (status is None or d.get("status", "completed") == status)
            and (not wanted_tags or wanted_tags.issubset(d.get("tags", ())))
            and (predicate is None or predicate(d))
        ]
        found.sort(key=lambda d: (d["model"], version_rules.sort_key(d["version"])))
        return [Version.from_doc(d) for d in found[:limit]]

    def directions(self, model: str) -> dict[str, str]:
        found = self._model_doc(model)
        return dict(found[1].get("directions", {})) if found else {}

    def primary_metric(self, model: str) -> str | None:
        """The model's primary metric: set explicitly, else the first metric its versions report."""
        found = self._model_doc(model)
        if found and found[1].get("primary_metric"):
            return found[1]["primary_metric"]
        table = self._backend.versions()
        for version in self._sorted_versions(model):
            metrics = table[self._index.by_model[model][version]].get("metrics")
            if metrics:
                return next(iter(metrics))
        return None

    def _best_version(self, model: str, metric: str | None) -> str:
        self._require_model(model)
        metric = metric or self.primary_metric(model)
        if metric is None:
            raise UnknownVersion(f"no version of '{model}' has metrics; add some with 'modelreg score'")
        lower = lower_is_better(metric, self.directions(model))
        table = self._backend.versions()
        scored = []
        for version in self._sorted_versions(model):
            value = to_number(table[self._index.by_model[model][version]].get("metrics", {}).get(metric))
            if value is not None:
                scored.append((-value if lower else value, version))
        if not scored:
            raise UnknownVersion(f"no version of '{model}' has the metric '{metric}'")
        # max() keeps the first of equals; the later version should win a tie.
        return max(reversed(scored), key=lambda pair: pair[0])[1]

    @caught_up
    def best(self, model: str, metric: str | None = None) -> Version:
        """The best version by ``metric`` (default: the model's primary metric), respecting its direction;
        ``training.cost`` or ``params.X`` choose by another section's number (lower cost and duration win)."""
        if metric and metric.partition(".")[0] in ("training", "params", "extra", "metrics"):
            from store import choosing

            return choosing.best_in_model(self, model, metric)
        return Version.from_doc(self._version_doc(model, self._best_version(model, metric))[1])

    def best_overall(self, metric: str | None = None) -> Version:
        """The best version across all models by ``metric`` (default: the most common primary metric)."""
        from store import choosing

        return choosing.best_overall(self, metric)

    # -- what is live -----------------------------------------------------------------------------------

    @caught_up
    def live(self, model: str, env: str | None = None) -> Version | None:
        """The version of ``model`` live in ``env`` (default environment if None), or None."""
        self._require_model(model)
        doc = self._live_doc(model, env or self.config.default_environment)
        if doc is None:
            return None
        return Version.from_doc(self._version_doc(model, doc["version"])[1])

    @caught_up
    def live_map(self, model: str | None = None) -> dict[str, Any]:
        """{env: version} for one model, or {model: {env: version}} for all."""
        result: dict[str, dict[str, str]] = {}
        for doc in self._backend.live().values():
            result.setdefault(doc["model"], {})[doc["env"]] = doc["version"]
        return dict(sorted(result.get(model, {}).items())) if model else result
