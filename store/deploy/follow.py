"""Following a registry on a serving host: keep ``<dir>/deploy/<env>/<model>`` at the live version.

Each pass (``Follower.step``, every few seconds) catches the registry up (``Registry.refresh``), asks
what is live in the environment, and for a model whose link points elsewhere:

1. materializes the version's artifacts through the registry's artifact store (a URL's bytes are
   downloaded into the user's cache) and checks each against its recorded sha256;
2. gathers them in ``<dir>/releases/<model>/<version>/`` (hard links to the checked files, or copies),
   built in a temporary folder and renamed into place, so a release folder is always complete; beside
   it ``.<version>.json`` names the sha256 it was built from, so a release is reused only for those bytes;
3. switches the link with the deploy's own atomic rename (a reader sees the old or the new, never
   nothing), then runs the hook; a failing hook switches the link back.

Only the registry's public API is used, so it follows any backend. What is linked is the state: a
restarted follower reads its links and carries on. A registry it cannot read (a server down, a
permission taken away) changes nothing on disk: the last good links stay, one line says so, and one
line says when it is readable again. A version it cannot fetch is retried on the next pass.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.artifacts import content_hash
from store.deploy.deploy import environment
from store.durable import atomic_write
from store.deploy.pinning import entry_names, link_or_copy, safe_part, switch_link
from store.errors import ArtifactError, ModelregError

if TYPE_CHECKING:
    from store.registry import Registry

HOOK_OUTPUT_CHARS = 2000


class Follower:
    """Keeps one host's links at what is live in ``env`` (see the module docstring)."""

    def __init__(self, open_registry: Callable[[], Registry], directory: Path, env: str, *,
                 models: Sequence[str] = (), hook: str | None = None, registry_hook: bool = False,
                 hook_timeout: float | None = None, say: Callable[[str], None] = print) -> None:
        """``hook`` runs after each switch; without one, ``registry_hook`` runs the registry's own
        ``deploy_hook`` (config.json) here too. ``hook_timeout`` defaults to the registry's."""
        self.open_registry = open_registry
        self.directory = directory.absolute()
        self.env = safe_part(env)
        self.models = list(models)
        self.hook, self.registry_hook, self.timeout, self.say = hook, registry_hook, hook_timeout, say
        self.registry: Registry | None = None
        self.outage: str | None = None
        self._said: dict[str, str] = {}  # model -> the last failure said about it, said once

    # -- one pass ---------------------------------------------------------------------------------

    def step(self) -> list[str]:
        """One pass; the models switched."""
        wanted = self._read_registry()
        if wanted is None:
            return []
        switched = []
        for model, (version, artifacts) in sorted(wanted.items()):
            if self.linked(model) == version:
                self._said.pop(model, None)
                continue
            try:
                self._switch(model, version, artifacts)
            except (ModelregError, OSError) as error:
                line = f"{model}: cannot follow {version} ({_one_line(error)}); {self.linked(model) or 'nothing'} stays linked"
                if self._said.get(model) != line:
                    self.say(line)
                    self._said[model] = line
                continue
            self._said.pop(model, None)
            switched.append(model)
        return switched

    @property
    def failing(self) -> list[str]:
        """Models whose live version could not be followed on the last pass."""
        return sorted(self._said)

    def run(self, interval: float, stop: threading.Event) -> None:
        """Passes every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.step()
            stop.wait(interval)

    def close(self) -> None:
        if self.registry is not None:
            self.registry.release()  # a reader: never a tidy-up write
            self.registry = None

    # -- reading the registry ---------------------------------------------------------------------

    def _read_registry(self) -> dict[str, tuple[str, list[dict[str, Any]]]] | None:
        """{model: (live version, its artifacts)}, or None while the registry cannot be read."""
        try:
            if self.registry is None:
                self.registry = self.open_registry()
        except (ModelregError, OSError) as error:
            return self._down(error)
        registry = self.registry
        environment(registry, self.env)  # an unknown environment is the user's to fix: raised, not waited out
        try:
            registry.refresh()
            with registry.reading(refresh=False):
                live = registry.live_map()
                wanted = {}
                for model in self.models or sorted(live):
                    version = live.get(model, {}).get(self.env)
                    if version is not None:
                        doc = registry.version_doc(f"{model}:{version}")
                        wanted[model] = (version, [dict(a) for a in doc.get("artifacts", [])])
        except (ModelregError, OSError) as error:
            return self._down(error)
        if self.outage is not None:
            self.say(f"the registry is readable again; following {self.env}")
            self.outage = None
        return wanted

    def _down(self, error: BaseException) -> None:
        line = (f"cannot read the registry ({_one_line(error)}); keeping the links as they are "
                f"({self._linked_summary()}) and trying again")
        if self.outage is None:
            self.say(line)  # once per outage, not once per pass
        self.outage = line
        self.close()  # opened afresh next time: a server back up, a permission given back

    def _linked_summary(self) -> str:
        folder = self.directory / "deploy" / self.env
        names = sorted(p.name for p in folder.iterdir() if p.is_symlink()) if folder.is_dir() else []
        return ", ".join(f"{n} {self.linked(n)}" for n in names) or "none yet"

    # -- links and releases -----------------------------------------------------------------------

    def link(self, model: str) -> Path:
        return self.directory / "deploy" / self.env / safe_part(model)

    def linked(self, model: str) -> str | None:
        """The version ``model``'s link points at now, or None."""
        try:
            target = Path(os.readlink(self.link(model)))
        except OSError:
            return None
        return target.name if target.parent.name == model else None

    def _switch(self, model: str, version: str, artifacts: list[dict[str, Any]]) -> None:
        assert self.registry is not None
        release = self._release(model, version, artifacts)
        link = self.link(model)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() and not link.is_symlink():
            raise ArtifactError(f"{link} is a real file or folder, not a link modelreg made; move it away")
        before = self.linked(model)
        previous_target = os.readlink(link) if link.is_symlink() else None
        switch_link(link, os.path.relpath(release, link.parent))
        failure = self._run_hook(model, version, before, release, link, artifacts)
        if failure:
            if previous_target is None:
                link.unlink(missing_ok=True)
            else:
                switch_link(link, previous_target)
            raise ArtifactError(failure)
        self.say(f"{model}: {self.env} {before or '(nothing)'} → {version}" + (" — hook ok" if failure == "" else ""))

    def _release(self, model: str, version: str, artifacts: list[dict[str, Any]]) -> Path:
        """``<dir>/releases/<model>/<version>/``, complete, its files checked against their sha256."""
        assert self.registry is not None
        folder = self.directory / "releases" / safe_part(model) / safe_part(version)
        names = entry_names(artifacts)
        manifest = folder.with_name(f".{folder.name}.json")  # what it was built from (versions never start with '.')
        wanted = json.dumps([[name, a.get("sha256")] for name, a in zip(names, artifacts)])
        if folder.is_dir() and sorted(os.listdir(folder)) == sorted(names) and _read(manifest) == wanted:
            return folder  # built and checked on an earlier pass, from these very bytes
        if not artifacts:
            raise ArtifactError(f"{model}:{version} has no artifacts")
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = folder.with_name(f".{folder.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        building.mkdir()
        try:
            for artifact, name in zip(artifacts, names):
                source = self.registry.artifacts.materialize(artifact)
                if artifact.get("sha256") and content_hash(source) != artifact["sha256"]:
                    raise ArtifactError(f"{artifact['path']} does not hold the registered bytes (sha256 differs)")
                if source.is_dir():
                    shutil.copytree(source, building / name, symlinks=False,
                                    copy_function=lambda a, b: link_or_copy(Path(a), Path(b)))
                else:
                    link_or_copy(source, building / name)
            if folder.exists():  # a damaged earlier one: move it aside rather than mix the two
                shutil.rmtree(folder, ignore_errors=True)
            os.rename(building, folder)
            atomic_write(manifest, wanted.encode())
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return folder

    def _run_hook(self, model: str, version: str, previous: str | None, release: Path, link: Path,
                  artifacts: list[dict[str, Any]]) -> str | None:
        """Run the hook with the deploy hook's variables; why it failed, "" if it ran fine, None if none is set."""
        assert self.registry is not None
        command = self.hook or (self.registry.config.deploy_hook if self.registry_hook else None)
        if not command:
            return None
        timeout = self.timeout or self.registry.config.hook_timeout
        names = entry_names(artifacts)
        variables = {"MODELREG_MODEL": model, "MODELREG_VERSION": version, "MODELREG_ENV": self.env,
                     "MODELREG_ARTIFACT": str(release / names[0] if len(names) == 1 else release),
                     "MODELREG_LINK": str(link), "MODELREG_PREVIOUS": previous or "", "MODELREG_ACTION": "follow"}
        process = subprocess.Popen(["/bin/sh", "-c", command], cwd=self.directory, env={**os.environ, **variables},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return f"the hook timed out after {timeout:g}s"
        if process.returncode != 0:
            last = next((line.strip() for line in reversed(output.decode(errors="replace").splitlines()) if line.strip()), "")
            return f"the hook exited with {process.returncode}" + (f" ({last[:200]})" if last else "")
        return ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
