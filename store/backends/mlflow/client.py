"""A small client for MLflow's REST API (/api/2.0/mlflow/...), over the standard library.

Why not ``mlflow`` or ``mlflow-skinny``: importing either costs ~2 s, and the app, every ``modelreg``
command and each watcher would pay it on start-up; the registry needs a dozen JSON endpoints, which
``http.client`` (one keep-alive connection per thread) and ``json`` serve in a few milliseconds.
Credentials are MLflow's own variables: ``MLFLOW_TRACKING_TOKEN`` (a bearer token), else
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic auth).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from store.errors import RegistryAccessError

API = "/api/2.0/mlflow/"


class ServerError(RegistryAccessError):
    """The server could not be reached or refused a request: one line naming it and what to do."""


class Unreachable(ServerError):
    """No answer (connection refused, timed out, reset): the write may or may not have happened."""


class ApiError(ServerError):
    """The server answered with an MLflow error: ``code`` is MLflow's error code."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class RestClient:
    """JSON requests to one MLflow server; safe to share between threads (a connection each)."""

    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 2) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServerError(f"{url} is not a server address: use http://HOST:PORT or https://HOST")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._base = parts.path.rstrip("/")
        self._timeout, self._retries = timeout, retries
        self._local = threading.local()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif user:
            basic = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"

    # -- the verbs ------------------------------------------------------------------------------

    def get(self, endpoint: str, **query: Any) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        path = API + endpoint + ("?" + urllib.parse.urlencode(params) if params else "")
        return self._request("GET", path, None, idempotent=True)

    def post(self, endpoint: str, body: Mapping[str, Any], *, idempotent: bool = False) -> dict[str, Any]:
        return self._request("POST", API + endpoint, body, idempotent=idempotent)

    def patch(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("PATCH", API + endpoint, body, idempotent=True)

    def delete(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("DELETE", API + endpoint, body, idempotent=True)

    def pages(self, endpoint: str, key: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged search (``key``: "registered_models", "model_versions")."""
        token = None
        while True:
            answer = self.get(endpoint, page_token=token, **query)
            yield from answer.get(key, ())
            token = answer.get("next_page_token")
            if not token:
                return

    def on_sent(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` as each of this thread's requests is on its way (before its answer is awaited)."""
        self._local.on_sent = callback

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- inside ---------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None, *, idempotent: bool) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        attempt = 0
        while True:
            connection = self._connection()
            sent = False
            try:
                connection.request(method, self._base + path, body=data, headers=self._headers)
                sent = True
                if (on_sent := getattr(self._local, "on_sent", None)) is not None:
                    on_sent()
                response = connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                # Nothing sent (a kept-alive connection the server had closed): always safe to try
                # again. A request that was sent is repeated only if repeating it is harmless.
                if attempt < self._retries and (idempotent or not sent or isinstance(error, http.client.RemoteDisconnected) and attempt == 0):
                    attempt += 1
                    time.sleep(0.05 * attempt)
                    continue
                if sent and method != "GET":  # it may have been kept: say so, so nobody assumes either way
                    raise Unreachable(f"the MLflow server at {self.url} stopped answering during a write ({_reason(error)}); "
                                      "check that it runs, then look at what was kept before trying again "
                                      "(a register with a content key is safe to repeat)") from None
                raise Unreachable(f"cannot reach the MLflow server at {self.url}: {_reason(error)}; "
                                  "check that it runs, or pass another --registry") from None
            if idempotent and attempt < self._retries + 2 and (response.status >= 500 or _lost_upsert(response.status, raw)):
                # e.g. two set-tags of one key at once: MLflow's upsert loses the race on PostgreSQL
                # with a unique violation (answered as a 400 or a 500). Setting a value again is harmless.
                attempt += 1
                time.sleep(0.02 * attempt)
                continue
            return self._answer(response.status, raw, method, path)

    def _answer(self, status: int, raw: bytes, method: str, path: str) -> dict[str, Any]:
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = None
        if status in (401, 403):
            what = "refused our credentials" if status == 403 else "needs credentials"
            raise ApiError(f"the MLflow server at {self.url} {what} (HTTP {status}): set MLFLOW_TRACKING_TOKEN, "
                           "or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD", "PERMISSION_DENIED", status)
        if not isinstance(answer, dict):
            raise ApiError(f"{self.url} is not an MLflow tracking server ({method} {path.split('?')[0]} answered "
                           f"HTTP {status} without MLflow's JSON): check the address", "NOT_MLFLOW", status)
        if status >= 400:
            code = str(answer.get("error_code") or f"HTTP_{status}")
            message = str(answer.get("message") or raw[:200].decode(errors="replace"))
            raise ApiError(f"the MLflow server at {self.url} refused {method} {path.split('?')[0]}: {message}", code, status)
        return answer


def _lost_upsert(status: int, raw: bytes) -> bool:
    """The database refused MLflow's insert-then-update of one key that another writer inserted first."""
    return status >= 400 and (b"duplicate key value violates unique constraint" in raw or b"UNIQUE constraint failed" in raw)


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
