"""modelreg's core: the registry, its storage, ingest, watching and deploys.

Nothing here imports the terminal UI (``tui``), Textual or scikit-learn at import time.
"""

from store.errors import ModelregError
from store.records import Model, Version
from store.registry import Registry

__all__ = ["Model", "ModelregError", "Registry", "Version"]
