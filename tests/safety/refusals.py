"""What every refusal of the restricted loader must look like, in this process or a child."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from store.errors import ArtifactError, UnsafeArtifact
from store.safety import load_file, scan_file

REPO = Path(__file__).resolve().parents[2]


def assert_refused(path: Path, *needles: str, marker: Path | None = None, broken: bool = False) -> str:
    """load_file refuses with one line naming ``needles``; scan_file is not "safe"; no marker."""
    expected: type[Exception] = ArtifactError if broken else UnsafeArtifact
    with pytest.raises((UnsafeArtifact, ArtifactError)) as caught:
        load_file(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert type(caught.value) is expected, message
    for needle in needles:
        assert needle in message, (needle, message)
    result = scan_file(path)
    assert not result.safe and result.verdict == ("error" if broken else "unsafe"), result
    assert "\n" not in result.reason
    if marker is not None:
        assert not marker.exists(), f"payload ran: {marker} exists"
    return message


_CHILD = r"""
import sys
from store.errors import ArtifactError, UnsafeArtifact
from store.safety import load_file, scan_file
path, use = sys.argv[1], sys.argv[2]
result = scan_file(path)
print("SCAN", result.verdict, result.reason, flush=True)
try:
    obj = load_file(path)
except (UnsafeArtifact, ArtifactError) as error:
    print("REFUSED", type(error).__name__, error, flush=True)
else:
    print("LOADED", type(obj).__name__, flush=True)
    import numpy as np
    print("USED", repr(eval(use, {"obj": obj, "np": np}))[:200], flush=True)  # what a caller does next
"""


def child(path: Path, use: str = "repr(obj)") -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), use], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def assert_refused_in_subprocess(path: Path, *needles: str, use: str = "repr(obj)", unsafe: bool = False) -> str:
    """The same checks in a child process: a crash (memory corruption) fails the test instead of
    taking pytest down. A load that was *not* refused is followed by ``use``, as a caller would,
    so corrupted memory shows as a crash. ``unsafe``: the verdict must be "unsafe", not "error"."""
    code, out = child(path, use)
    assert code == 0, f"child died with {code} (memory corruption?) after: {out[-2000:]}"
    assert "SCAN safe" not in out and "REFUSED" in out, out
    if unsafe:
        assert "SCAN unsafe" in out and "REFUSED UnsafeArtifact" in out, out
    for needle in needles:
        assert needle in out, (needle, out)
    return out
