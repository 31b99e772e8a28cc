"""A real S3 for the tests: moto's server from the servers' venv, on 127.0.0.1 at a free port.

It checks credentials (moto's IAM auth, switched on after the first three requests, which make the one
user the tests sign with), so a wrong key is refused as by AWS. ``s3`` gives each test its own
bucket and points modelreg at the server through the environment variables it honours:
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, server_program, start, stop, wait_for_port

_BUCKETS = itertools.count(1)


@dataclass
class S3Server:
    endpoint: str
    key: str
    secret: str
    process: Any = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """What a process (modelreg, a test's subprocess) needs to reach this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.key,
                "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_DEFAULT_REGION": "us-east-1"}

    def filesystem(self, **options: Any) -> Any:
        """An s3fs filesystem signed as the test user (the tests' own view of the bucket)."""
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, skip_instance_cache=True, use_listings_cache=False,
                                 client_kwargs={"endpoint_url": self.endpoint}, **options)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto_server, stopped by process group at the end of the session; missing = the test fails."""
    import botocore.session

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process = start([server_program("moto_server"), "-H", "127.0.0.1", "-p", str(port)], Path(log),
                    env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        wait_for_port(port, process, "moto_server")
        endpoint = f"http://127.0.0.1:{port}"
        iam = botocore.session.get_session().create_client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="modelreg-tests")
        key = iam.create_access_key(UserName="modelreg-tests")["AccessKey"]
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="modelreg-tests", PolicyName="all", PolicyDocument=json.dumps(everything))
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process)
    finally:
        stop(process)


@dataclass
class S3Bucket:
    server: S3Server
    name: str

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket on the shared server, with this process's environment pointed at it."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"modelreg-{next(_BUCKETS)}"
    s3_server.filesystem().mkdir(bucket)
    return S3Bucket(s3_server, bucket)
