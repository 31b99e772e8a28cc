"""Settings kept on the MLflow server for the whole team: tags of a hidden registered model.

``<prefix>_modelreg.settings`` holds one tag ``modelreg.NAME`` per setting (today ``artifact_store``:
where every node uploads versions' local files). The registered-models listing that every sync asks
for carries its tags, so reading the settings costs no request of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from store.backends.mlflow.client import ApiError
from store.backends.mlflow.mapping import PREFIX, tags_of
from store.backends.objects import urls
from store.errors import ArtifactError

if TYPE_CHECKING:
    from store.backends.mlflow.backend import MlflowBackend

SETTINGS_MODEL = "_modelreg.settings"


def of(answer: Mapping[str, Any], problems: list[str]) -> dict[str, str]:
    """The settings in the settings model's listing answer. Only what modelreg takes from a team is
    kept (anyone who may write the server could set the rest), and a bad value is a problem, not an
    error: it must not stop the command that sets it right."""
    tags = tags_of(answer)
    store = tags.get(PREFIX + "artifact_store")
    if not store:
        return {}
    try:
        return {"artifact_store": urls.parse(store).url}
    except ArtifactError as error:
        problems.append(f"the team's artifact store on the server is not usable ({error}); set it again with "
                        "'modelreg artifact-store s3://BUCKET/PREFIX'")
        return {}


def put(backend: MlflowBackend, name: str, value: str | None) -> None:
    """Keep ``value`` as setting ``name`` for everyone (None: forget it)."""
    client, model = backend.client, backend.replica.prefix + SETTINGS_MODEL
    key = PREFIX + name
    try:
        if value is None:
            client.delete("registered-models/delete-tag", {"name": model, "key": key})
        else:
            client.post("registered-models/set-tag", {"name": model, "key": key, "value": value}, idempotent=True)
    except ApiError as error:
        if error.code != "RESOURCE_DOES_NOT_EXIST":
            raise
        if value is not None:  # the first setting ever: make the model that holds them
            try:
                client.post("registered-models/create", {"name": model, "description": "modelreg's settings for the team"})
            except ApiError as exists:
                if exists.code != "RESOURCE_ALREADY_EXISTS":
                    raise
            client.post("registered-models/set-tag", {"name": model, "key": key, "value": value}, idempotent=True)
    with backend.replica.lock:
        backend.replica.settings = {**backend.replica.settings, name: value} if value else \
            {k: v for k, v in backend.replica.settings.items() if k != name}
