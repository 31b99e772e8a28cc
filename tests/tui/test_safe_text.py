"""tui.safe_text: registry text is shown literally and never reaches the terminal as control."""

from __future__ import annotations

import pytest

from tui.safe_text import clean, literal


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("[bold red]alert[/]", "[bold red]alert[/]"),
        ("red\x1b[31mtext\x1b[0m", "redtext"),
        ("title\x1b]0;pwned\x07", "title"),
        ("link\x1b]8;;http://x\x1b\\here", "linkhere"),
        ("clear\x9b2J", "clear"),
        ("bell\x07 back\x08space", "bell backspace"),
        ("bidi\u202eevil", "bidievil"),
        ("lone\x1b", "lone"),
        (":smile:", ":smile:"),
        (None, ""),
        (0.5, "0.5"),
    ],
)
def test_clean_strips_control_but_keeps_text(raw: object, shown: str) -> None:
    assert clean(raw) == shown


def test_single_line_folds_breaks() -> None:
    assert clean("a\r\n  b\tc") == "a\r\n  b\tc".replace("\r", "")
    assert clean("a\r\n  b\tc", single_line=True) == "a b c"


def test_literal_is_plain_text_with_one_style() -> None:
    text = literal("[b]x\x1b[2J", "bold")
    assert text.plain == "[b]x"
    assert text.spans == [] and str(text.style) == "bold"
