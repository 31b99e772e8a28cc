"""Text from the registry made safe to show: never markup, never terminal control.

Names, tags, notes and sidecar metadata come from files anyone can write. Shown
through Rich markup, ``[bold red]`` would restyle the screen; passed to the
terminal, an escape sequence could move the cursor, retitle the window or worse.
Everything the UI shows from the registry goes through :func:`literal` or :func:`clean`.
"""

from __future__ import annotations

import re
from typing import Any

from rich.style import Style
from rich.text import Text

# ESC-introduced sequences (CSI, OSC/DCS/APC/PM/SOS strings, two-byte escapes) and their
# 8-bit C1 forms, removed whole so no half of a sequence survives as visible garbage.
_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?                 # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])          # OSC, DCS, SOS, PM, APC ...
      .*?(?:\x07|\x1b\\|\x9c|$)                        # ... up to their terminator
    | \x1b[ -/]*[0-~]?                                 # any other escape (incl. a lone ESC)
    """,
    re.VERBOSE | re.DOTALL,
)
# Remaining C0/C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def clean(text: Any, *, single_line: bool = False) -> str:
    """``text`` (any value, via ``str``) without escape sequences or control characters.

    Newlines and tabs are kept unless ``single_line``, which folds line breaks into
    one space (for table cells and titles) and tabs into a space.
    """
    value = _CONTROL.sub("", _SEQUENCE.sub("", "" if text is None else str(text)))
    if single_line:
        value = _LINE_BREAKS.sub(" ", value).replace("\t", " ")
    return value


def literal(text: Any, style: str | Style = "", *, single_line: bool = False) -> Text:
    """A Rich ``Text`` showing ``text`` exactly as written (after :func:`clean`): no markup, no emoji codes."""
    return Text(clean(text, single_line=single_line), style=style)
