"""References to versions as people write them: ``MODEL:VERSION``, ``MODEL:latest``, ``MODEL:production``."""

from __future__ import annotations

from store.errors import BadReference


def split_ref(ref: str) -> tuple[str, str | None]:
    """``MODEL:VERSION`` -> (model, version); a bare ``MODEL`` has no version part."""
    if not isinstance(ref, str) or not ref.strip():
        raise BadReference(f"bad reference {ref!r}: write MODEL:VERSION, e.g. sentiment:v3 or sentiment:latest")
    model, sep, version = ref.strip().partition(":")
    if sep and not version:
        raise BadReference(f"bad reference '{ref}': nothing after ':'; write MODEL:VERSION, e.g. {model}:latest")
    if not model:
        raise BadReference(f"bad reference '{ref}': no model name before ':'")
    return model, (version if sep else None)
