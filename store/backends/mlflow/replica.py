"""The MLflow backend's replica: documents in memory, a change log, and syncing them from the server.

A sync lists the registered models (their tags, aliases and ``last_updated_timestamp``: one request
per 1,000 models) and fetches versions only where something moved: a model whose timestamp changed
gets its new version numbers, and one row tells whether a version it knew was deleted (then all are
fetched); a model whose ``modelreg:edited`` tag changed gets the versions named there (after a
reopen: all its versions, the tag naming only the last edit); every ``sweep`` seconds everything is
fetched again (tags set by others without our signal). Aliases come from the model listing, since
listing versions returns none (MLflow #16734).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from store.backends.index import VersionIndex
from store.backends.mlflow import history as hist
from store.backends.mlflow import settings as team
from store.backends.mlflow.client import ApiError, RestClient
from store.backends.mlflow.mapping import aliases_of, model_doc, tags_of, version_doc
from store.backends.protocol import Changes, Doc, Token

KINDS = ("models", "versions", "live", "history")
EDITED_TAG = "modelreg:edited"  # not "modelreg.": it is a signal, not a field of the model
LIVE_TAG = "modelreg:live:"  # + env: the live entry's own fields (the release folder)


class Replica:
    """What the backend knows of the server, kept as the Backend protocol shows it."""

    def __init__(self, client: RestClient, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.lock = threading.RLock()
        self.index = VersionIndex()
        self.docs: dict[str, dict[str, Doc]] = {kind: {} for kind in KINDS}
        self.log: list[tuple[str, str]] = []
        self.ids: dict[str, str] = {}  # "kind\0server\0..." -> doc id of models and live entries (versions: numbers)
        self.last_id = 0
        self.stamps: dict[str, Any] = {}  # server model name -> last_updated_timestamp seen
        self.edited: dict[str, str] = {}  # server model name -> EDITED_TAG seen
        # models whose signal a poll followed since all their versions were last fetched: a poll sees the
        # last edit only, so the saved replica says "unknown" for them (the next reopen fetches them whole)
        self.partial: set[str] = set()
        self.answers: dict[str, dict[str, Any]] = {}  # server model name -> registered model answer
        self.numbers: dict[str, dict[str, str]] = {}  # server model name -> {MLflow number: doc id}
        self.searched: dict[str, int] = {}  # server model name -> the highest number a search returned
        self.problems: dict[str, list[str]] = {}  # keyed like ids
        self.history = hist.HistoryLog()
        self.runs: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, str] = {}  # the team's settings (store.backends.mlflow.settings)

    # -- names ----------------------------------------------------------------------------------

    def server_name(self, model: str) -> str:
        return self.prefix + model

    @property
    def history_model(self) -> str:
        return self.prefix + hist.HISTORY_MODEL

    def doc_id(self, *key: str) -> str:
        joined = "\0".join(key)
        found = self.ids.get(joined)
        if found is None:
            self.last_id += 1  # ids live in this process (and its saved replica): numbers in the order first seen
            found = self.ids[joined] = str(self.last_id)
        return found

    def version_id(self, server: str, number: str) -> str:
        """A version's doc id, kept in ``numbers`` only: saved as is, so a reopen rebuilds nothing per version."""
        known = self.numbers.setdefault(server, {})
        found = known.get(number)
        if found is None:
            self.last_id += 1
            found = known[number] = str(self.last_id)
        return found

    # -- the change log -------------------------------------------------------------------------

    def token(self) -> Token:
        return len(self.log)

    def saved_state(self) -> tuple[Any, ...]:
        """Compared before saving: documents change the token; what a sync knows of each model (its
        timestamp, edit signal, highest number searched) changes these small per-model tables."""
        with self.lock:
            return len(self.log), dict(self.stamps), dict(self.edited), dict(self.searched), dict(self.settings)

    def changes_since(self, token: Token) -> Changes:
        with self.lock:
            if not isinstance(token, int) or token > len(self.log):
                return Changes(len(self.log), reset=True)
            changed: dict[str, set[str]] = {kind: set() for kind in KINDS}
            for kind, doc_id in self.log[token:]:
                changed[kind].add(doc_id)
            return Changes(len(self.log), *(frozenset(changed[k]) for k in KINDS))

    def set(self, kind: str, doc_id: str, doc: Doc | None) -> bool:
        docs = self.docs[kind]
        old = docs.get(doc_id)
        if old == doc:
            return False
        if doc is None:
            del docs[doc_id]
        else:
            docs[doc_id] = doc
        self.log.append((kind, doc_id))
        if kind == "versions":
            self.index.on_change(doc_id, old, doc)
        elif kind == "models":
            self.index.on_model_change(doc_id, old, doc)
        return True

    # -- syncing --------------------------------------------------------------------------------

    def list_models(self) -> list[dict[str, Any]]:
        """The registered models (with tags and aliases): one request per 1,000."""
        query = {"filter": f"name LIKE '{self.prefix}%'"} if self.prefix else {}
        return list(self.client.pages("registered-models/search", "registered_models", max_results=1000, **query))

    def sync(self, *, full: bool = False, listing: list[dict[str, Any]] | None = None, reopened: bool = False) -> bool:
        """Catch up with the server; True if anything changed. Raises ServerError if it cannot.
        ``listing``: :meth:`list_models`, if the caller fetched it already. ``reopened``: the replica
        was read from the saved file, so any number of edits may have come since its last sync."""
        with self.lock:
            before = len(self.log)
            seen: set[str] = set()
            answers = self.list_models() if listing is None else listing
            # The history first: what is live is the aliases, or the log's word where a switch did not finish.
            for answer in answers:
                if answer.get("name") == self.history_model and (
                        full or self.stamps.get(self.history_model) != answer.get("last_updated_timestamp")):
                    self.stamps[self.history_model] = answer.get("last_updated_timestamp")
                    self.sync_history(full=full)
            problems: list[str] = []
            self.settings = next((team.of(a, problems) for a in answers if a.get("name") == self.prefix + team.SETTINGS_MODEL), {})
            self.problems["s"] = problems
            for answer in answers:
                server = str(answer.get("name", ""))
                if not server.startswith(self.prefix) or server.startswith(self.prefix + "_modelreg."):
                    continue
                seen.add(server)
                self.take_model(answer, full=full, reopened=reopened)
            for server in [s for s in self.answers if s not in seen]:
                self.drop_model(server)
            return len(self.log) != before

    def take_model(self, answer: dict[str, Any], *, full: bool, reopened: bool = False) -> None:
        server = str(answer["name"])
        name = server[len(self.prefix):]
        problems: list[str] = []
        self.set("models", self.doc_id("m", server), model_doc(answer, name, problems))
        self.problems[f"m\0{server}"] = problems
        stamp, edited = answer.get("last_updated_timestamp"), tags_of(answer).get(EDITED_TAG, "")
        # The edit signal names the last edit only: between polls (a sweep every ``sweep`` s catches
        # what two quick edits hide) it is enough, but not after a reopen: all the model is fetched.
        if full or server not in self.answers or reopened and edited and self.edited.get(server) != edited:
            self.fetch_all(server)
        else:
            if self.stamps.get(server) != stamp:
                # From what the last search saw, not from our own creates: a version another process
                # made just below one of ours must not fall in the gap.
                self.take_versions(server, self.client.pages(
                    "model-versions/search", "model_versions",
                    filter=f"name='{server}' and version_number>{self.searched.get(server, 0)}", max_results=10000))
                if self.lost_versions(server):  # a plain MLflow client deleted some: fetch them all
                    self.fetch_all(server)
            if self.edited.get(server) != edited and edited:
                self.partial.add(server)
                for number in _edited_numbers(edited):
                    self.fetch_version(server, number)
        self.answers[server], self.stamps[server], self.edited[server] = answer, stamp, edited
        self.take_aliases(server, name, aliases_of(answer))

    def fetch_all(self, server: str) -> None:
        """All of a model's versions; the ones we knew and the server no longer has are dropped."""
        self.partial.discard(server)
        self.take_versions(server, self.client.pages("model-versions/search", "model_versions",
                                                      filter=f"name='{server}'", max_results=10000), complete=True)

    def lost_versions(self, server: str) -> bool:
        """Whether a version we know is gone from the server. Deleting one moves only its model's
        timestamp, so it is asked only when that moved: the versions up to the highest number searched
        are all ours to know, so the N-th of them (N: how many we know) is our highest, or one is gone.
        One row at an offset; anything unexpected in the answer counts as gone (everything fetched)."""
        top = self.searched.get(server, 0)
        known = [int(n) for n in self.numbers.get(server, {}) if n.isdigit() and int(n) <= top]
        if not known:
            return False
        # MLflow's page token is the offset (it refuses 0: no token then)
        offset = base64.b64encode(json.dumps({"offset": len(known) - 1}).encode()).decode() if len(known) > 1 else None
        try:
            answer = self.client.get("model-versions/search", filter=f"name='{server}' and version_number<={top}",
                                     order_by="version_number ASC", max_results=1, page_token=offset)
        except ApiError:
            return True
        found = answer.get("model_versions") or []
        return len(found) != 1 or str(found[0].get("version")) != str(max(known)) or bool(answer.get("next_page_token"))

    def take_versions(self, server: str, answers: Iterable[dict[str, Any]], *, complete: bool = False) -> None:
        known = self.numbers.setdefault(server, {})
        got = set()
        for answer in answers:
            got.add(self.take_version(answer))
        top = max((int(n) for n in got if n.isdigit()), default=0)
        if complete or top > self.searched.get(server, 0):
            self.searched[server] = top if complete else max(top, self.searched.get(server, 0))
        if complete:
            for number in [n for n in known if n not in got]:
                self.drop_version(server, number)

    def take_version(self, answer: dict[str, Any]) -> str:
        server, number = str(answer["name"]), str(answer["version"])
        run = None
        if answer.get("run_id"):  # modelreg's own versions have none
            run = self.run(str(answer["run_id"]))
        problems: list[str] = []
        doc = version_doc(answer, problems, run)
        doc["model"] = server[len(self.prefix):]
        doc_id = self.version_id(server, number)
        self.problems[f"v\0{server}\0{number}"] = problems
        self.set("versions", doc_id, doc)
        return number

    def fetch_version(self, server: str, number: str) -> None:
        try:
            answer = self.client.get("model-versions/get", name=server, version=number)["model_version"]
        except ApiError as error:
            if error.code == "RESOURCE_DOES_NOT_EXIST":
                self.drop_version(server, number)
                return
            raise
        self.take_version(answer)

    def drop_version(self, server: str, number: str) -> None:
        doc_id = self.numbers.get(server, {}).pop(number, None)
        self.problems.pop(f"v\0{server}\0{number}", None)
        if doc_id is not None:
            self.set("versions", doc_id, None)

    def drop_model(self, server: str) -> None:
        for number in list(self.numbers.get(server, {})):
            self.drop_version(server, number)
        self.take_aliases(server, server[len(self.prefix):], {})
        self.set("models", self.doc_id("m", server), None)
        for store in (self.answers, self.stamps, self.edited, self.numbers, self.searched):
            store.pop(server, None)
        self.partial.discard(server)

    def take_aliases(self, server: str, name: str, aliases: Mapping[str, str]) -> None:
        """The live table from a model's aliases (alias -> MLflow number): each alias is an environment."""
        numbers = self.numbers.get(server, {})
        versions = self.docs["versions"]
        tags = tags_of(self.answers.get(server, {}))
        aliases = self.unfinished_switches(name, aliases)
        for env, number in aliases.items():
            doc_id = numbers.get(number)
            version = versions[doc_id]["version"] if doc_id in versions else f"v{number}"
            doc = {"model": name, "env": env, "version": version}
            try:  # where the deploy that made it live put its release, on that machine
                fields = json.loads(tags.get(LIVE_TAG + env, "{}"))
            except ValueError:
                fields = {}
            if isinstance(fields, dict) and fields.pop("version", None) == version:
                doc.update({k: v for k, v in fields.items() if k not in doc})
            self.set("live", self.doc_id("l", server, env), doc)
        for doc_id, doc in list(self.docs["live"].items()):
            if doc["model"] == name and doc["env"] not in aliases:
                self.set("live", doc_id, None)

    def unfinished_switches(self, name: str, aliases: Mapping[str, str]) -> dict[str, str]:
        """``aliases`` with the log's word where its last switch is not done and the alias still shows
        what that switch replaced (its writer died before pointing it, or is pointing it now); the
        statuses that switch sets are shown too."""
        found = dict(aliases)
        pending = [(env, fold.last) for (model, env), fold in self.history.folds.items()
                   if model == name and fold.last is not None and not fold.last.done]
        if not pending:
            return found  # the usual case: no per-version work (a reopen runs this for every model)
        server = self.server_name(name)
        numbers = {doc_id: number for number, doc_id in self.numbers.get(server, {}).items()}
        by_version = {self.docs["versions"][i]["version"]: n for i, n in numbers.items() if i in self.docs["versions"]}
        named = {n: v for v, n in by_version.items()}
        for env, last in pending:
            if named.get(found.get(env, "")) != last.expected:
                continue
            if last.to is None or last.to not in by_version:
                found.pop(env, None)
            else:
                found[env] = by_version[last.to]
            for version, status in last.statuses.items():  # and the statuses it did not set yet
                doc_id = self.index.by_model.get(name, {}).get(version)
                doc = self.docs["versions"].get(doc_id or "")
                if doc is not None and doc.get("status") != status:
                    self.set("versions", doc_id, {**doc, "status": status})
        return found

    def sync_history(self, *, full: bool = False) -> None:
        """New entries of the history model (all of them, and deletions, when ``full``)."""
        log = self.history
        where = f"name='{self.history_model}'" + ("" if full else f" and version_number>{log.upto}")
        problems: list[str] = []
        entries = []
        try:
            for answer in self.client.pages("model-versions/search", "model_versions", filter=where, max_results=10000):
                entry = hist.parse(answer, problems)
                if entry is not None:
                    entries.append(entry)
        except ApiError as error:
            if error.code != "RESOURCE_DOES_NOT_EXIST":
                raise
        self.problems["h"] = problems
        changed = log.add(entries)
        if full:
            present = {e.seq for e in entries}
            for seq in [s for s in log.entries if s not in present]:
                changed |= log.forget(seq)
        for seq in changed:
            self.set("history", seq, log.visible.get(seq))

    def run(self, run_id: str) -> dict[str, Any] | None:
        """A plain-MLflow version's run (cached: a run's metrics rarely change after registration)."""
        if run_id not in self.runs:
            try:
                self.runs[run_id] = self.client.get("runs/get", run_id=run_id).get("run", {})
            except ApiError:
                self.runs[run_id] = {}
        return self.runs[run_id]

    def all_problems(self) -> list[str]:
        return [line for lines in self.problems.values() for line in lines]


def _edited_numbers(value: str) -> list[str]:
    try:
        numbers = json.loads(value).get("versions", [])
        return [str(n) for n in numbers if str(n).isdigit()]
    except (ValueError, AttributeError):
        return []
