"""``MlflowBackend``: a registry's documents on an MLflow tracking server (``--registry http://HOST:PORT``).

Writes go to the server at once, each atomic there on its own; the server numbers versions and
history entries. What cannot be atomic across requests is made safe by the log: exactly-once by
content key is "create, then delete mine if a lower version carries the same key" (measured: 16
processes x 40 creates gave exactly one version per key; "search, then create" made duplicates),
and a switch of what is live is decided by the history log (:mod:`store.backends.mlflow.history`).
A transaction that fails is undone by compensating writes (created versions and models deleted,
tags put back); a server that dies mid-transaction keeps what it had committed, and that is whole: a
version is one request with its tags, an edit of several fields is kept whole by its intent tag
(:mod:`store.backends.mlflow.edits`), a switch not marked done is finished by the next one
(:mod:`store.backends.mlflow.switching`), and the writer fetches everything again once it can.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store.backends.artifacts import FileArtifacts
from store.backends.mlflow import edits
from store.backends.mlflow import history as hist
from store.backends.mlflow import saved as saving
from store.backends.mlflow import settings as team
from store.backends.mlflow import switching
from store.backends.mlflow.client import ApiError, RestClient, ServerError, Unreachable
from store.backends.mlflow.mapping import (KEY_TAG, NAME_TAG, PREFIX, RESERVED, aliases_of, default_name, field_tags,
                                          foreign_tags, source_of)
from store.backends.mlflow.replica import EDITED_TAG, Replica
from store.backends.protocol import Changes, Doc, SyncStatus, Token
from store.errors import DeployConflict, DuplicateVersion

_DEFAULT = re.compile(r"v([0-9]+)")


class _Poll:
    """No push from MLflow: the reader polls (the app every few seconds)."""

    reason = "an MLflow server has no push API: polling"

    def start(self) -> str:
        return "poll"

    def stop(self) -> None:
        pass


class MlflowBackend:
    """A :class:`~store.backends.protocol.Backend` over MLflow's REST API; see the module docstring."""

    shared = True  # many machines, each with its own folder of deploy links (store/backends/mlflow/opening.py)

    def __init__(self, url: str, *, prefix: str = "", poll: float = 2.0, sweep: float = 45.0,
                 saved: Path | None = None) -> None:
        """``saved``: where the replica is kept between runs (opening then fetches only what changed,
        and works read-only from it while the server cannot be reached)."""
        if "'" in prefix:
            raise ServerError(f"bad model name prefix {prefix!r}: it may not hold a quote")
        self.client = RestClient(url)
        self.location = url + (f" (models {prefix}*)" if prefix else "")
        self.replica = Replica(self.client, prefix)
        self.lock = self.replica.lock
        self.index = self.replica.index
        self.poll_interval, self.sweep_interval = poll, sweep
        self.offline: str | None = None  # why the last sync failed, while it fails
        # Artifact records hold local paths or object-storage URLs: the same store as the local backend's.
        self.artifacts = FileArtifacts()
        self.synced_at = 0.0
        self._swept_at = 0.0
        self._depth = 0
        self._undo: list[Callable[[], Any]] = []
        self._uncertain = False
        self.saved = saved
        listing = saving.Listing(self.replica) if saved is not None and saved.exists() else None  # asked while we read the file
        loaded = saved is not None and saving.load(self.replica, saved, url, listing)
        # What the file holds, taken before the sync: what the sync learns (documents, or only that a
        # model's timestamp moved) is saved on close, or every later open would fetch it again.
        self._saved_state = self.replica.saved_state() if loaded else None
        try:
            self._sync(full=not loaded, listing=listing.result() if listing is not None and loaded else None, reopened=loaded)
        except Unreachable as error:
            if not loaded:
                raise
            self.offline, self.synced_at = str(error), time.monotonic()
        self._swept_at = time.monotonic()

    def sync_status(self) -> SyncStatus:
        """How fresh the replica is, for the app: synced (when), writing, or offline (why; reads go on
        from the replica). A value: the app counts the seconds since ``synced_at`` itself."""
        if self.offline:
            return SyncStatus("offline", self.synced_at, self.offline)
        return SyncStatus("writing" if self._depth else "synced", self.synced_at)

    # -- the replica ------------------------------------------------------------------------------

    def models(self) -> Mapping[str, Doc]:
        return self.replica.docs["models"]

    def versions(self) -> Mapping[str, Doc]:
        return self.replica.docs["versions"]

    def live(self) -> Mapping[str, Doc]:
        return self.replica.docs["live"]

    def history(self) -> Mapping[str, Doc]:
        return self.replica.docs["history"]

    def version_docs(self) -> Iterable[Doc]:
        return self.replica.docs["versions"].values()

    def refresh(self) -> bool:
        """Poll, at most every ``poll`` seconds (a full sweep every ``sweep``); offline keeps the replica."""
        now = time.monotonic()
        if self._depth or now - self.synced_at < self.poll_interval:
            return False
        try:
            return self._sync(full=now - self._swept_at >= self.sweep_interval)
        except ServerError as error:
            self.offline, self.synced_at = str(error), now  # read-only on what we have; retried next poll
            return False

    def token(self) -> Token:
        return self.replica.token()

    def changes_since(self, token: Token) -> Changes:
        self.refresh()  # no push from MLflow: the app's poll is our poll (a request every ``poll`` s at most)
        return self.replica.changes_since(token)

    def refetch(self, model: str, version: str) -> None:
        """Read one version (and its run) from the server again: a plain client's tags move no timestamp
        a sync could see. Offline, the replica's copy stays (a reading command has said so already)."""
        if self.offline is not None:
            return  # each request would wait for its timeout again
        with self.lock:
            server, number, doc_id = self._number(model, version)
            self.replica.runs.pop(str(self.versions()[doc_id]["mlflow"].get("run_id")), None)
            try:
                self.replica.fetch_version(server, number)
            except ServerError:
                pass

    def settings(self) -> Mapping[str, str]:
        """The team's settings kept on the server (see :mod:`store.backends.mlflow.settings`)."""
        return dict(self.replica.settings)

    def put_setting(self, name: str, value: str | None) -> None:
        with self.transaction():
            team.put(self, name, value)

    def problems(self) -> list[str]:
        return self.replica.all_problems()

    def watch(self, wake: Callable[[], None]) -> _Poll:
        return _Poll()

    def tidy(self) -> None:
        pass

    def close(self) -> None:
        if self.saved is not None and self._uncertain:
            self.saved.unlink(missing_ok=True)
        elif self.saved is not None and not self.offline and self.replica.saved_state() != self._saved_state:
            try:
                saving.save(self.replica, self.saved, self.client.url)
            except OSError:
                pass  # only a cache: the next open fetches everything
        self.client.close()

    def _sync(self, *, full: bool = False, listing: list[dict[str, Any]] | None = None, reopened: bool = False) -> bool:
        changed = self.replica.sync(full=full, listing=listing, reopened=reopened)
        self.synced_at, self.offline = time.monotonic(), None
        if full:
            self._swept_at, self._uncertain = self.synced_at, False
        return changed

    # -- writes -----------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            outer = self._depth == 0
            if outer:
                # Caught up as a read is (every ``poll`` s at most), not with a request per write: what
                # must hold against other writers is checked on the server after each write (content
                # keys, version names, the history's fold), never decided from the replica alone.
                self.refresh()
            self._depth += 1
            try:
                yield
            except BaseException:
                if outer:
                    self._compensate()
                raise
            finally:
                self._depth -= 1
                if outer:
                    self._undo = []

    def _compensate(self) -> None:
        for undo in reversed(self._undo):
            try:
                undo()
            except ServerError:
                self._unsure()  # the server is gone: what it acknowledged stays, and the next sync shows it
        self._undo = []
        try:
            self._sync(full=True)
        except ServerError:
            self._unsure()

    def _unsure(self) -> None:
        """A write whose outcome we do not know (the server died under it): our replica may be wrong
        about it, and no edit signal told the others. The next sync fetches everything, and the
        saved replica is dropped on close, so the next open does too."""
        self._swept_at = 0.0
        self._uncertain = True

    def put_model(self, name: str, fields: Mapping[str, Any]) -> Doc:
        with self.transaction():
            server = self.replica.server_name(name)
            doc_id = self.index.models.get(name)
            if doc_id is None:
                try:
                    answer = self.client.post("registered-models/create", {"name": server, "tags": field_tags(fields)})
                    self._undo.append(lambda: self.client.delete("registered-models/delete", {"name": server}))
                    self.replica.take_model(answer["registered_model"], full=False)
                    return self.models()[self.replica.doc_id("m", server)]
                except ApiError as error:
                    if error.code != "RESOURCE_ALREADY_EXISTS":
                        raise
                    self._sync()  # someone else made it meanwhile: set our fields on theirs
            old = self.models()[self.replica.doc_id("m", server)]
            for tag in field_tags({k: v for k, v in fields.items() if old.get(k) != v and k != "name"}):
                self.client.post("registered-models/set-tag", {"name": server, **tag}, idempotent=True)
                previous = old.get(tag["key"][len(PREFIX):])
                self._undo.append(self._model_tag_undo(server, tag["key"], previous))
            doc = {**old, **fields, "name": name}
            self.replica.set("models", self.replica.doc_id("m", server), doc)
            return doc

    def _model_tag_undo(self, server: str, key: str, previous: Any) -> Callable[[], Any]:
        if previous is None:
            return lambda: self.client.delete("registered-models/delete-tag", {"name": server, "key": key})
        return lambda: self.client.post("registered-models/set-tag", {"name": server, "key": key, "value": json.dumps(previous)})

    def create_version(self, model: str, doc: Mapping[str, Any], *, version: str | None,
                       key: str | None = None, next_version: Callable[[Collection[str]], str] | None = None) -> Doc:
        with self.transaction():
            known = self.index.by_model.get(model, {})
            if key is not None and (found := self._with_key(model, key)) is not None:
                return found
            if version is not None and version in known:
                raise DuplicateVersion(f"{model}:{version} already exists; versions are never overwritten")
            for _ in range(20):
                made = self._create(model, doc, version=version, key=key,
                                    wanted=version or (next_version(known) if next_version else None))
                if made is not None:
                    return made
                if version is not None:
                    raise DuplicateVersion(f"{model}:{version} already exists; versions are never overwritten")
                self._resync(model)  # our name was taken meanwhile: look at all of the model, choose again
                known = self.index.by_model.get(model, {})
            raise DuplicateVersion(f"{model}: could not choose a free version name after 20 tries")

    def _with_key(self, model: str, key: str) -> Doc | None:
        """The first version (by MLflow's number) made with content key ``key``."""
        versions = self.versions()
        found = [versions[i] for i in self.index.by_model.get(model, {}).values() if versions[i].get("content_key") == key]
        return min(found, key=lambda d: int(d["mlflow"]["number"])) if found else None

    def _create(self, model: str, doc: Mapping[str, Any], *, version: str | None, key: str | None,
                wanted: str | None) -> Doc | None:
        """One create; kept only if no lower version has its content key (that one is returned then)
        or its name (None: choose another name). A version named by the server's number, ``vN``, needs
        no name tag; any other name is a ``modelreg.version`` tag."""
        server = self.replica.server_name(model)
        tags = field_tags({k: v for k, v in doc.items() if k not in RESERVED}) + foreign_tags(doc)
        if key is not None:
            tags.append({"key": KEY_TAG, "value": key})
        if version is not None:
            tags.append({"key": NAME_TAG, "value": version})
        source = source_of(doc)
        answer = self.client.post("model-versions/create", {"name": server, "source": source, "tags": tags})["model_version"]
        number = str(answer["version"])
        self._undo.append(lambda: self._delete(server, number))
        name = version
        if version is None:
            plain = _DEFAULT.fullmatch(wanted or default_name(number))
            if plain and int(plain[1]) <= int(number) and default_name(number) not in self.index.by_model.get(model, {}):
                name = None  # vN, the server's own number
            else:  # the scheme is ahead of the server's numbers, or not numbered at all: keep its name
                name = wanted or default_name(number)
                self.client.post("model-versions/set-tag", {"name": server, "version": number, "key": NAME_TAG,
                                                            "value": name}, idempotent=True)
                answer = {**answer, "tags": [*answer.get("tags", ()), {"key": NAME_TAG, "value": name}]}
        if key is not None or name is not None:
            clash = self._first_clash(server, number, key, name)
            if clash is not None:
                self._delete(server, number)
                self._undo.pop()
                self._touch(server, [number])  # others who saw it drop it
                self._sync()
                if key is not None and clash.get(KEY_TAG) == key:
                    return self._with_key(model, key)
                return None
        self.replica.take_version(answer)  # MLflow moved the model's timestamp itself: others' polls see it
        return self.versions()[self.replica.version_id(server, number)]

    def _resync(self, model: str) -> None:
        self.replica.fetch_all(self.replica.server_name(model))

    def _first_clash(self, server: str, number: str, key: str | None, name: str | None) -> dict[str, str] | None:
        """The tags of a version below ``number`` with the same content key or name, if any."""
        for tag, value in ((KEY_TAG, key), (NAME_TAG, name)):
            if value is None:
                continue
            where = f"name='{server}' and version_number<{number} and tags.`{tag}`='{_quoted(value)}'"
            for answer in self.client.pages("model-versions/search", "model_versions", filter=where, max_results=10):
                return {t["key"]: t.get("value", "") for t in answer.get("tags", ())}
        if name is not None and (m := _DEFAULT.fullmatch(name)) and int(m[1]) < int(number):
            try:  # a version numbered by the server, named vN without a tag
                answer = self.client.get("model-versions/get", name=server, version=m[1])["model_version"]
                if not any(t["key"] == NAME_TAG for t in answer.get("tags", ())):
                    return {NAME_TAG: name}
            except ApiError as error:
                if error.code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        return None

    def _delete(self, server: str, number: str) -> None:
        try:
            self.client.delete("model-versions/delete", {"name": server, "version": number})
        except ApiError as error:
            if error.code != "RESOURCE_DOES_NOT_EXIST":
                raise

    def _touch(self, server: str, numbers: Iterable[str] = ()) -> None:
        """Move the model's timestamp (tags do not) and name the versions we edited: others' polls see it."""
        description = self.replica.answers.get(server, {}).get("description", "")
        self.client.patch("registered-models/update", {"name": server, "description": description})
        if numbers := list(numbers):
            signal = json.dumps({"versions": numbers, "by": uuid.uuid4().hex[:8]})
            self.client.post("registered-models/set-tag", {"name": server, "key": EDITED_TAG, "value": signal}, idempotent=True)
            self.replica.edited[server] = signal

    def _number(self, model: str, version: str) -> tuple[str, str, str]:
        doc_id = self.index.by_model.get(model, {}).get(version)
        if doc_id is None:
            raise KeyError(f"{model}:{version}")  # the registry resolves references before writing
        return self.replica.server_name(model), str(self.versions()[doc_id]["mlflow"]["number"]), doc_id

    def update_version(self, model: str, version: str, *, set: Mapping[str, Any], unset: Iterable[str] = ()) -> Doc:
        with self.transaction():
            server, number, doc_id = self._number(model, version)
            doc = edits.update(self, server, number, doc_id, set=set, unset=unset)
            self._touch(server, [number])
            return doc

    def remove_version(self, model: str, version: str) -> None:
        with self.transaction():
            server, number, _ = self._number(model, version)
            self._delete(server, number)  # MLflow drops the aliases naming it too
            self.replica.drop_version(server, number)
            self.replica.take_aliases(server, model, {e: n for e, n in _aliases(self.replica, server).items() if n != number})
            self._touch(server, [number])

    # -- what is live, and the history --------------------------------------------------------------

    def switch_live(self, model: str, env: str, *, expected: str | None, to: str | None,
                    entry: Mapping[str, Any], statuses: Mapping[str, str] = {},
                    live_fields: Mapping[str, Any] = {}) -> Doc:
        with self.transaction():
            return switching.switch(self, model, env, expected=expected, to=to, entry=entry, statuses=statuses,
                                    live_fields=live_fields)

    def append_history(self, entry: Mapping[str, Any]) -> Doc:
        with self.transaction():
            return switching.append(self, entry, hist.NOTE)


def _aliases(replica: Replica, server: str) -> dict[str, str]:
    return aliases_of(replica.answers.get(server, {}))


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
