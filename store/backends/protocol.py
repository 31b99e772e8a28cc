"""The seam under :class:`store.registry.Registry`: what a backend keeps, and nothing of modelreg's rules.

A backend holds four kinds of document (models, versions, what is live, the deploy history) and does
the few things that must be atomic where the documents live: create a version exactly once, assign a
version number, switch what is live only if it is still what the caller saw. Every rule about
versions, lifecycles, references, filters and lineage is above the seam, in ``store/``, written once.

Reads never go to the backend's far end: each backend keeps a replica in memory (the documents as
last seen, and a :class:`~store.backends.index.VersionIndex` over them) and brings it up to date in
:meth:`Backend.refresh`, from its own change feed. The local backend's replica is the journal's own
tables; a remote backend fills its replica from a snapshot and then from ``changes_since``.

A remote registry fits as follows: a server that numbers versions itself answers ``create_version``
with ``version=None`` by its own number (``next_version`` is only a rule it may ignore); exactly-once
creation looks the content key up on the server first; ``switch_live`` is a conditional update of
an alias with the history entry written in the same request, ``DeployConflict`` when the alias moved.

Artifacts are behind the seam too: ``Backend.artifacts`` is an
:class:`~store.backends.artifacts.ArtifactStore` (put, open, exists, materialize), and loading, deploy,
the checks and ``follow`` read artifact bytes only through it. The local and memory backends keep files
at their recorded paths and reach ``s3://``, ``gs://`` and ``az://`` URLs through fsspec. What stays in
the registry's directory (``Registry.path``) on every backend: config.json, saved estimators, the
deploy links and pinned releases.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from store.backends.artifacts import ArtifactStore
from store.backends.index import VersionIndex

Doc = dict[str, Any]
Token = Any  # opaque: only ever handed back to the backend that made it


@dataclass(frozen=True)
class Changes:
    """What changed since a token, by document id in each collection; ``reset``: reload everything."""

    token: Token
    models: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset()
    live: frozenset[str] = frozenset()
    history: frozenset[str] = frozenset()
    reset: bool = False

    def __bool__(self) -> bool:
        return self.reset or bool(self.models or self.versions or self.live or self.history)


class ChangeWatch(Protocol):
    """Wakes a reader when the backend changes: an inotify watch, a poller, a server's push."""

    #: Why it fell back to polling, if it did (shown in the app's activity log).
    reason: str

    def start(self) -> str:
        """Start watching; how: "inotify" when woken by the system, anything else means "poll me"."""
        ...

    def stop(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """Where a registry's documents are kept. See the module docstring for what belongs here."""

    #: A short description of where the documents are, for messages ("/srv/models/.modelreg").
    location: str
    #: Held (re-entrantly) by a reader that wants several reads of the replica to agree.
    lock: AbstractContextManager[Any]
    #: The replica's index: versions by model, latest versions, children, artifact paths, model names.
    index: VersionIndex
    #: Where artifact bytes are: describe, put, open, exists, problem, materialize.
    artifacts: ArtifactStore
    #: True when several machines write these documents, each with its own registry folder (and so its
    #: own deploy links): a link there that disagrees with what is live is stale, not an unrecorded switch.
    shared: bool

    # -- the replica (read-only mappings: documents are replaced on change, never edited in place) --

    def models(self) -> Mapping[str, Doc]: ...

    def versions(self) -> Mapping[str, Doc]: ...

    def live(self) -> Mapping[str, Doc]: ...

    def history(self) -> Mapping[str, Doc]: ...

    def version_docs(self) -> Iterable[Doc]:
        """Every version document (never a document that is not a version)."""
        ...

    def refresh(self) -> bool:
        """Bring the replica up to date with writes made elsewhere; True if anything changed."""
        ...

    def token(self) -> Token: ...

    def changes_since(self, token: Token) -> Changes:
        """What changed since ``token`` (cheap enough to ask several times a second)."""
        ...

    def problems(self) -> list[str]:
        """What the backend holds but cannot use, one line each (documents written by someone else)."""
        ...

    # -- writes: each is atomic on its own; transaction() groups them ---------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all of them happen or none does, and nobody else writes in between.

        Reads inside see the replica caught up with everyone. A backend that cannot lock its far end
        for that long keeps each operation atomic on its own and refuses ``expected`` mismatches.
        """
        ...

    def put_model(self, name: str, fields: Mapping[str, Any]) -> Doc:
        """Create model ``name`` with ``fields``, or replace the fields of the existing one."""
        ...

    def create_version(self, model: str, doc: Mapping[str, Any], *, version: str | None,
                       key: str | None = None, next_version: Callable[[Collection[str]], str] | None = None) -> Doc:
        """Store a new version of ``model`` and return its document.

        ``version=None``: the backend assigns one under its own atomicity, by ``next_version(known)``
        or by its own numbering (a server that assigns numbers ignores ``next_version``). ``key``:
        exactly once by content: a version created earlier with the same key is returned instead.
        Raises :class:`~store.errors.DuplicateVersion` for a version that exists.
        """
        ...

    def update_version(self, model: str, version: str, *, set: Mapping[str, Any],
                       unset: Iterable[str] = ()) -> Doc:
        """Replace the fields in ``set`` and drop those in ``unset``; the new document."""
        ...

    def remove_version(self, model: str, version: str) -> None:
        """Forget a version and any live entry naming it."""
        ...

    def switch_live(self, model: str, env: str, *, expected: str | None, to: str | None,
                    entry: Mapping[str, Any], statuses: Mapping[str, str] = {},
                    live_fields: Mapping[str, Any] = {}) -> Doc:
        """Compare-and-swap what is live, and append ``entry`` to the history, in one atomic step.

        Refuses with :class:`~store.errors.DeployConflict` if what is live is not ``expected``.
        ``statuses`` ({version: status}) are set on ``model``'s versions in the same step. Returns the
        history entry as stored (its ``seq`` assigned). ``live_fields`` are kept with the live entry (the local backend's
        release folder); a backend without such a place may drop them.
        """
        ...

    def append_history(self, entry: Mapping[str, Any]) -> Doc:
        """Append a history entry that switched nothing (a failed deploy, an imported one)."""
        ...

    def watch(self, wake: Callable[[], None]) -> ChangeWatch:
        """Something that calls ``wake`` soon after anyone writes, once started (the app's live updates)."""
        ...

    def tidy(self) -> None:
        """Optional housekeeping when a registry is closed (the local backend folds its journal)."""
        ...

    def close(self) -> None: ...



def team_settings(backend: Backend) -> Mapping[str, str]:
    """The settings ``backend`` keeps for everyone who opens it, by an optional ``settings()`` (an
    MLflow server keeps the team's ``artifact_store``; written by ``put_setting(name, value)``);
    {} for a backend with no such place: a local registry's settings are its config.json."""
    settings = getattr(backend, "settings", None)
    return settings() if callable(settings) else {}


@dataclass(frozen=True)
class SyncStatus:
    """How fresh a server backend's replica is (an optional ``sync_status()``): the app's indicator
    works the age out from ``synced_at`` itself, so it can count seconds without asking again."""

    state: str  # "synced", "writing" or "offline" (reads go on from the replica; writes fail)
    synced_at: float  # time.monotonic() of the last sync (offline: of the last failed try)
    reason: str = ""  # offline: why the server cannot be reached, in one line


@dataclass(frozen=True)
class Feed:
    """:class:`Changes` with the documents as they are now: (id, document or None if removed), by id."""

    token: Token
    reset: bool = False
    models: tuple[tuple[str, Doc | None], ...] = ()
    versions: tuple[tuple[str, Doc | None], ...] = ()
    live: tuple[tuple[str, Doc | None], ...] = ()
    history: tuple[tuple[str, Doc | None], ...] = ()

    def __bool__(self) -> bool:
        return self.reset or bool(self.models or self.versions or self.live or self.history)
