"""The writer: the one thread that registers, each batch of settled checkpoints one durable registry
transaction, deciding inside it (which is what makes registration exactly-once).
"""

from __future__ import annotations

import queue

from store.watch.events import WatchEvent
from store.watch.intake import Job, Outcome, Plan
from store.watch.problems import _describe

BATCH = 256


class Writer:
    """The Watcher's writer thread."""

    # -- writer: the one thread that registers ---------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                batch.append(more)
            try:
                self._write(batch)
            except Exception as error:
                self._emit(WatchEvent("problem", None, "", f"watcher: {_describe(error)}"))
            finally:
                for _ in batch:
                    self._done()

    def _write(self, batch: list[Job]) -> None:
        out = Outcome()
        work: list[Plan | Job] = []
        for job in batch:
            if job.kind != "checkpoint":
                work.append(job)
                continue
            try:
                prepared = self.intake.prepare(job)
            except Exception as error:
                out.events.append(WatchEvent("problem", None, job.path, f"{job.path}: {_describe(error)}; skipped"))
                continue
            if isinstance(prepared, Outcome):
                out.extend(prepared)
            elif prepared is not None:
                work.append(prepared)
        if work:
            done = Outcome()
            try:
                with self.registry.transaction():
                    for item in work:
                        done.extend(self._apply(item))
            except Exception as error:
                # Nothing of this batch was stored; a rescan will find these checkpoints again.
                paths = [item.job.path if isinstance(item, Plan) else item.path for item in work]
                out.events.append(WatchEvent("problem", None, paths[0], f"could not write to the registry ({_describe(error)}); {len(paths)} change(s) wait for the next rescan"))
                done = Outcome()
            out.extend(done)
        self._follow_up(out)

    def _apply(self, item: Plan | Job) -> Outcome:
        path = item.job.path if isinstance(item, Plan) else item.path
        try:
            if isinstance(item, Plan):
                return self.intake.apply(item)
            if item.kind == "gone":
                return self.intake.gone(item.path)
            if item.kind == "hashed":
                return self.intake.hashed(item)
            if item.kind == "described":
                return self.intake.described(item)
        except Exception as error:
            return Outcome(events=[WatchEvent("problem", None, path, f"{path}: {_describe(error)}; skipped")])
        return Outcome()

    def _follow_up(self, out: Outcome) -> None:
        for event in out.events:
            self._emit(event)
        for ref, path, record in out.hash:
            self._queue(self._hash_jobs, ("fill", (ref, path, record)))
        for job in out.need_hash:
            self._queue(self._hash_jobs, ("compare", job))
        for job in out.need_scan:
            self._queue(self._inspect_jobs, ("scan", job))
        for ref, path in out.describe:
            self._queue(self._inspect_jobs, ("describe", (ref, path)))
        for checkpoint, root in out.settle:
            self.pending.touch(checkpoint, root, artifact=False)
            self._wake.set()
