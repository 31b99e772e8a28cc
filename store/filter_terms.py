"""Filter terms: what one term of a filter expression (a comparison, a shorthand, a word) matches,
built once into a predicate over version documents (the parser is ``store.filters``).
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from store.filter_fields import Predicate, artifact_role, framework_of, in_list, parent_is
from store.filter_tokens import _OP_CHARS, _Token
from store.lifecycle import STATUSES

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "~": operator.contains,  # placeholder: ~ is always a text match, which _test builds itself
}
_EXPECTED = "expected NAME OP VALUE, OP one of = == != > >= < <= ~"
_PREFIXES = ("tag", "status", "model", "data", "parent", "role")
_PREFIX_WORD = re.compile(r"[A-Za-z_]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_SECTIONS = ("metrics", "params", "training", "extra", "estimator")
_BARE_SECTIONS = ("metrics", "params", "training", "extra")
_TEXT_FIELDS = frozenset({"model", "version", "status", "parent", "git_commit", "notes", "registered_by", "created_at"})
# bool is a subclass of int but not a number here; an exact class check excludes it and is fast.
_NUMBERS = frozenset({int, float})
_MISSING: Any = object()


# -- terms ----------------------------------------------------------------------------------------


def _term(token: _Token) -> Predicate:
    text, quoted = token.text, token.quoted
    if text.startswith("-") and not quoted[0]:
        if len(text) == 1:
            raise token.fail("'-' needs a term right after it, e.g. -tag:old")
        return _negated(_term(token._replace(text=text[1:], quoted=quoted[1:])))
    colon = _first_unquoted(text, quoted, ":")
    op_at = _first_unquoted(text, quoted, _OP_CHARS)
    if colon >= 0 and (op_at < 0 or colon < op_at) and _PREFIX_WORD.fullmatch(text[:colon]):
        return _shorthand(token, text[:colon].lower(), text[colon + 1 :])
    if op_at >= 0:
        return _comparison(token, op_at)
    return _word(text)


def _first_unquoted(text: str, quoted: tuple[bool, ...], chars: str | frozenset[str]) -> int:
    for i, c in enumerate(text):
        if c in chars and not quoted[i]:
            return i
    return -1


def _negated(term: Predicate) -> Predicate:
    return lambda doc: not term(doc)


def _all_of(terms: list[Predicate]) -> Predicate:
    if not terms:
        return lambda doc: True
    if len(terms) == 1:
        return terms[0]
    if len(terms) == 2:
        first, second = terms
        return lambda doc: first(doc) and second(doc)

    def all_terms(doc: Mapping[str, Any]) -> bool:
        for term in terms:
            if not term(doc):
                return False
        return True

    return all_terms


def _any_of(groups: list[Predicate]) -> Predicate:
    if len(groups) == 1:
        return groups[0]

    def any_group(doc: Mapping[str, Any]) -> bool:
        for group in groups:
            if group(doc):
                return True
        return False

    return any_group


# -- text matching ----------------------------------------------------------------------------------


def _is_glob(value: str) -> bool:
    return "*" in value or "?" in value


def _glob(pattern: str) -> Callable[[str], Any]:
    """Case-insensitive whole-string fnmatch, compiled once."""
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE).match


def _text_matcher(value: str, substring: bool) -> Callable[[str], bool]:
    """Case-insensitive: a glob when ``value`` has * or ?, else equality (or substring)."""
    if _is_glob(value):
        match = _glob(value)
        return lambda text: match(text) is not None
    wanted = value.lower()
    if substring:
        return lambda text: wanted in text.lower()
    return lambda text: text.lower() == wanted


# -- shorthands -----------------------------------------------------------------------------------


def _shorthand(token: _Token, prefix: str, value: str) -> Predicate:
    if prefix not in _PREFIXES:
        known = " ".join(f"{p}:" for p in _PREFIXES)
        raise token.fail(f"unknown prefix '{prefix}:', use one of {known} (quote a word with ':' to search for it)")
    if not value:
        raise token.fail(f"{prefix}: needs a value, e.g. {prefix}:{_EXAMPLES[prefix]}")
    if prefix == "status" and not _is_glob(value) and value.lower() not in STATUSES:
        raise token.fail(f"unknown status '{value}', use one of {', '.join(STATUSES)}")
    if prefix in ("data", "tag"):
        return in_list("training_data" if prefix == "data" else "tags", _text_matcher(value, prefix == "data"))
    same = _text_matcher(value, substring=False)
    if prefix == "role":
        return artifact_role(same)
    if prefix == "parent":
        return parent_is(value, same)
    field = prefix  # status, model

    def shorthand(doc: Mapping[str, Any]) -> bool:
        found = doc.get(field)
        return found.__class__ is str and same(found)

    return shorthand


_EXAMPLES = {"tag": "baseline", "status": "deployed", "model": "sent*", "data": "imdb", "parent": "sentiment:v2", "role": "gguf"}


def _word(text: str) -> Predicate:
    contains = _text_matcher(text, substring=True)
    in_tags = in_list("tags", contains)

    def word(doc: Mapping[str, Any]) -> bool:
        for field in ("model", "version", "notes"):
            found = doc.get(field)
            if found.__class__ is str and contains(found):
                return True
        return in_tags(doc)

    return word


# -- comparisons ------------------------------------------------------------------------------------


def _comparison(token: _Token, op_at: int) -> Predicate:
    text, quoted = token.text, token.quoted
    end = op_at
    while end < len(text) and text[end] in _OP_CHARS and not quoted[end]:
        end += 1
    op, name, raw_value = text[op_at:end], text[:op_at], text[end:]
    if op not in _OPERATORS or not name:
        raise token.fail(_EXPECTED)
    # An empty pair of quotes leaves no characters behind, only the closing quote in raw.
    value_quoted = any(quoted[end:]) or (not raw_value and token.raw[-1] in "'\"")
    if not raw_value and not value_quoted:
        raise token.fail(f"missing value after '{name}{op}'")
    as_text = value_quoted or op == "~" or name in _TEXT_FIELDS
    value = raw_value if as_text else _literal(raw_value)
    test = _test(token, op, value)
    numeric = (_OPERATORS[op], value) if value.__class__ in _NUMBERS else None
    return _field_predicate(name, test, numeric)


def _literal(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _NUMBER.fullmatch(value):
        return int(value) if _INTEGER.fullmatch(value) else float(value)
    return value


def _test(token: _Token, op: str, value: Any) -> Callable[[Any], bool]:
    """A check of one field value (or _MISSING) against ``value``; never raises."""
    compare = _OPERATORS[op]
    if value is None or value.__class__ is bool:
        if op not in ("=", "==", "!="):
            raise token.fail("true, false and null compare only with = or !=")
        wanted = op != "!="
        if value is None:
            return lambda found: (found is None) is wanted and found is not _MISSING
        return lambda found: found.__class__ is bool and (found is value) is wanted
    if value.__class__ in _NUMBERS:
        return lambda found: found.__class__ in _NUMBERS and compare(found, value)
    if op == "~" or (op in ("=", "==", "!=") and _is_glob(value)):
        matches = _text_matcher(value, substring=op == "~")
        wanted = op != "!="
        return lambda found: found.__class__ is str and matches(found) is wanted
    return lambda found: found.__class__ is str and compare(found, value)


def _field_predicate(name: str, test: Callable[[Any], bool], numeric: tuple[Callable, Any] | None) -> Predicate:
    """Where NAME points in the document, combined with the value test."""
    head, _, rest = name.partition(".")
    if head in _SECTIONS and rest:
        return _in_sections((head,), rest, test, numeric)
    if name in _TEXT_FIELDS:
        return lambda doc: test(doc.get(name, _MISSING))
    if name == "framework":
        return framework_of(test)
    return _in_sections(_BARE_SECTIONS, name, test, numeric)


def _in_sections(
    sections: tuple[str, ...], key: str, test: Callable[[Any], bool], numeric: tuple[Callable, Any] | None
) -> Predicate:
    """The first section holding ``key`` (dots descend, unless a key with the dots exists)."""
    if "." not in key and numeric is not None:
        compare, value = numeric

        # `accuracy>0.9` is the filter people run most, so its test is inlined: a third of the time.
        def flat_number(doc: Mapping[str, Any]) -> bool:
            for section in sections:
                found = doc.get(section)
                if isinstance(found, dict) and key in found:
                    found = found[key]
                    return found.__class__ in _NUMBERS and compare(found, value)
            return False

        return flat_number

    if "." not in key:

        def flat(doc: Mapping[str, Any]) -> bool:
            for section in sections:
                found = doc.get(section)
                if isinstance(found, dict) and key in found:
                    return test(found[key])
            return False

        return flat

    def nested(doc: Mapping[str, Any]) -> bool:
        for section in sections:
            found = _walk(doc.get(section), key)
            if found is not _MISSING:
                return test(found)
        return False

    return nested


def _walk(node: Any, key: str) -> Any:
    while isinstance(node, dict):
        if key in node:
            return node[key]
        head, dot, key = key.partition(".")
        if not dot:
            return _MISSING
        node = node.get(head, _MISSING)
    return _MISSING
