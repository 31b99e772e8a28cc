"""Every error a user can cause, as a typed exception with a one-line message.

The CLI and the app print ``str(error)`` and nothing else, so each message names
the thing that is wrong and says what to do about it.
"""

from __future__ import annotations


class ModelregError(Exception):
    """Base class: a problem the user can fix, shown as one line."""


class RegistryNotFound(ModelregError):
    pass


class RegistryAccessError(ModelregError):
    """The registry's folder or files may not be read (permissions)."""


class StoreCorrupt(ModelregError):
    pass


class BadDocument(ModelregError, ValueError):
    """A document the store cannot hold (NaN or Infinity: not JSON)."""


class StoreWriteError(ModelregError):
    """A write failed (disk full, permission denied); nothing was changed."""


class OutsideEdit(StoreWriteError):
    """registry.json was changed by another program; writes wait for 'modelreg doctor --adopt'."""


class NotCompactable(ModelregError):
    """The journal cannot be folded into registry.json now (NaN/Infinity written by hand,
    or the file is open in another program)."""


class SnapshotBusy(NotCompactable):
    """registry.json is open for writing in another program: compaction waits."""


class UnknownModel(ModelregError):
    pass


class UnknownVersion(ModelregError):
    pass


class BadReference(ModelregError):
    pass


class BadVersion(ModelregError):
    pass


class DuplicateVersion(ModelregError):
    pass


class BadTransition(ModelregError):
    pass


class FilterError(ModelregError):
    pass


class LineageError(ModelregError):
    pass


class ArtifactError(ModelregError):
    pass


class BadMetadata(ModelregError):
    """Malformed user metadata: a sidecar, a metric value, a param."""


class DeployError(ModelregError):
    pass


class DeployConflict(DeployError):
    """What is live changed between looking and switching (another deploy got there first)."""


class UnsafeArtifact(ModelregError):
    pass


class BundleError(ModelregError):
    pass


class ConfigError(ModelregError):
    pass


class WatchError(ModelregError):
    """A folder cannot be watched (missing, not a folder, unreadable)."""
