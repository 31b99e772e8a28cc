"""The REST client's retries: what it repeats (a set-tag that lost MLflow's upsert race) and what it never repeats."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from store.backends.mlflow.client import ApiError, RestClient

# What MLflow on PostgreSQL answers when two set-tags of one key race (seen with four deployers).
LOST_RACE = {"error_code": "INVALID_STATE", "message": '(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "model_version_tag_pk"'}


class _Racing(http.server.BaseHTTPRequestHandler):
    """Answers each path's first POST with the lost-race error, later ones with success."""

    calls: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Racing.calls.append(self.path)
        first = _Racing.calls.count(self.path) == 1
        body = json.dumps(LOST_RACE if first else {}).encode()
        self.send_response(400 if first else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def racing() -> Iterator[RestClient]:
    _Racing.calls = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Racing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = RestClient(f"http://127.0.0.1:{server.server_port}")
    try:
        yield client
    finally:
        client.close()
        server.shutdown()


def test_a_set_tag_that_lost_the_upsert_race_is_set_again(racing: RestClient) -> None:
    assert racing.post("model-versions/set-tag", {"name": "m", "version": "3", "key": "k", "value": "true"}, idempotent=True) == {}
    assert len(_Racing.calls) == 2


def test_a_write_that_is_not_idempotent_is_never_repeated(racing: RestClient) -> None:
    with pytest.raises(ApiError, match="UniqueViolation"):
        racing.post("model-versions/create", {"name": "m", "source": "x"})
    assert len(_Racing.calls) == 1
