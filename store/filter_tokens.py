"""Filter tokens: a filter expression cut into words, operators, quoted text and parentheses,
each knowing whether it was quoted (the parser is ``store.filters``).
"""

from __future__ import annotations

from typing import NamedTuple

from store.errors import FilterError

_OP_CHARS = frozenset("=!<>~")


# -- tokens ---------------------------------------------------------------------------------------


class _Token(NamedTuple):
    number: int  # 1-based position in the expression, for messages
    raw: str  # as typed, quotes included
    text: str  # quotes removed
    quoted: tuple[bool, ...]  # per character of text: it came from quotes or a backslash
    paren: str = ""  # "(" or ")" for a grouping parenthesis

    def keyword(self) -> str | None:
        word = self.text.lower()
        return word if word in ("or", "and", "not") and not any(self.quoted) and not self.paren else None

    def fail(self, why: str) -> FilterError:
        return FilterError(f"bad filter term {self.number} '{self.raw}': {why}")


def _tokenize(expr: str) -> list[_Token]:
    """Split on whitespace the way a shell does, remembering which characters were quoted.

    Unquoted parentheses group: each '(' that starts a word and each ')' that ends one is a
    token of its own. Inside a word they are text (``f(x)y``); quote a value ending in ')'.
    """
    tokens: list[_Token] = []
    i, n = 0, len(expr)
    while i < n:
        if expr[i].isspace():
            i += 1
            continue
        if expr[i] in "()":
            tokens.append(_Token(len(tokens) + 1, expr[i], expr[i], (False,), expr[i]))
            i += 1
            continue
        start, chars, quoted = i, [], []
        while i < n and not expr[i].isspace():
            c = expr[i]
            if c == ")" and _closes_word(expr, i):
                break
            if c == "\\" and i + 1 < n:
                chars.append(expr[i + 1])
                quoted.append(True)
                i += 2
            elif c in "'\"":
                i += 1
                while i < n and expr[i] != c:
                    if c == '"' and expr[i] == "\\" and i + 1 < n and expr[i + 1] in '"\\':
                        i += 1
                    chars.append(expr[i])
                    quoted.append(True)
                    i += 1
                if i >= n:
                    raise _Token(len(tokens) + 1, expr[start:].strip(), "", ()).fail(f"unclosed {c} quote")
                i += 1
            else:
                chars.append(c)
                quoted.append(False)
                i += 1
        tokens.append(_Token(len(tokens) + 1, expr[start:i], "".join(chars), tuple(quoted)))
    return tokens


def _closes_word(expr: str, i: int) -> bool:
    """Is the ')' at ``i`` one of the parentheses that end a word (only ')' up to the next space)?"""
    while i < len(expr) and expr[i] == ")":
        i += 1
    return i == len(expr) or expr[i].isspace()
