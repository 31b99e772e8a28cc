"""Filter expressions: modelreg's one small query language over version documents.

``modelreg find``, ``Registry.find()`` and the app's ``/`` filter all use it. ``compile_filter``
parses once and returns a predicate that does no parsing per document.
The syntax is in ``SYNTAX`` (also returned by ``describe_terms()``); the README copies it.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from store.errors import FilterError
from store.filter_fields import Predicate, artifact_role, framework_of, in_list, parent_is
from store.lifecycle import STATUSES

# The whole language, as users read it; the README and help screens copy it.
SYNTAX = """\
  accuracy>0.9 tag:baseline       terms separated by spaces must all match (AND)
  a b or c                        'or' between terms; AND binds tighter: (a and b) or c
  a (b or c)  not (a or b)        parentheses group; each must be closed
  -tag:old  not status:archived   '-' or 'not' negates a term
  notes~"learning rate"           quote with '...' or "..." for spaces, ':' or operators
  (empty)                         matches every version
  'or', 'and' and 'not' are keywords in any case; quote them to search for the word.

Comparisons  NAME OP VALUE, OP one of  = == != > >= < <= ~
  accuracy>0.9  metrics.f1>=0.8  params.max_depth=5  training.epochs>=3  loss<0.3
  extra.dataset=imdb  framework=sklearn  created_at>2026-11-01  version=v3
  NAME   metrics.X params.X training.X extra.X estimator.X  -> that section (more dots go deeper)
         model version status parent git_commit notes registered_by created_at  -> that field, as text
         framework  -> training.framework or any artifact's framework
         any other name  -> the first of metrics, params, training, extra that has it
  VALUE  a number compares numerically with number fields (true/false are not numbers);
         true, false and null match only with = or !=; anything else, or anything quoted, is text.
         Text: = and != are exact; < <= > >= compare as strings (ISO dates order correctly);
         = or != with * or ? is a case-insensitive glob; ~ is a case-insensitive substring
         match (a glob with * or ?).
  A missing field, or one whose type differs from the value's, never matches (a negated term
  then does).

Shorthands (case-insensitive; * and ? make a glob)
  tag:X       the version has tag X
  status:X    status is X (draft training completed deployed deprecated archived)
  model:X     the model name is X, e.g. model:sent*
  data:X      a training_data entry contains X (a glob must match the whole entry)
  parent:REF  the parent is REF (model:version), or parent:VERSION for any parent with that version
  role:X      an artifact has the role X (gguf, lora, config, weights...)
  WORD        the model name, version, a tag or the notes contain WORD
"""

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "~": operator.contains,  # placeholder: ~ is always a text match, which _test builds itself
}
_OP_CHARS = frozenset("=!<>~")
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


def describe_terms() -> str:
    """The filter syntax as plain text, for help screens and the README."""
    return SYNTAX


def compile_filter(expr: str) -> Predicate:
    """A predicate over version documents for ``expr``; raises FilterError naming the bad term.

    ``compile_filter("accuracy>0.9 tag:baseline or status:deployed")(doc) -> bool``.
    """
    tokens = _tokenize(expr)
    if not tokens:
        return _all_of([])
    parser = _Parser(tokens)
    predicate = parser.any_of(None)
    extra = parser.peek()
    if extra is not None:  # any_of stops only at the end or at a ')'
        raise extra.fail("')' closes nothing: there is no '(' before it")
    return predicate


class _Parser:
    """Recursive descent: any_of = all_of ('or' all_of)*; all_of = unary (['and'] unary)*;
    unary = 'not' unary | '(' any_of ')' | TERM. ``waiting`` is the token still owed a term."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def any_of(self, opened: _Token | None) -> Predicate:
        groups = [self.all_of(opened)]
        while (token := self.peek()) is not None and token.keyword() == "or":
            self.at += 1
            groups.append(self.all_of(token))
        return _any_of(groups)

    def all_of(self, waiting: _Token | None) -> Predicate:
        terms = [self.unary(waiting)]
        while (token := self.peek()) is not None and token.paren != ")" and token.keyword() != "or":
            if token.keyword() == "and":
                self.at += 1
                terms.append(self.unary(token))
            else:
                terms.append(self.unary(None))
        return _all_of(terms)

    def unary(self, waiting: _Token | None) -> Predicate:
        token = self.peek()
        if waiting is not None and waiting.keyword() == "not" and (token is None or token.paren == ")" or token.keyword() in ("or", "and")):
            raise waiting.fail("'not' needs a term after it")
        if token is not None and token.keyword() in ("or", "and"):
            raise token.fail(f"'{token.text}' needs a term on each side")
        if token is None or token.paren == ")":
            if waiting is not None and waiting.paren == "(":
                raise waiting.fail("'(' is never closed" if token is None else "'()' holds no term")
            if waiting is not None:
                raise waiting.fail(f"'{waiting.text}' needs a term on each side")
            assert token is not None  # an empty expression never reaches here
            raise token.fail("')' closes nothing: there is no '(' before it")
        self.at += 1
        if token.keyword() == "not":
            return _negated(self.unary(token))
        if token.paren == "(":
            inner = self.any_of(token)
            if self.peek() is None:
                raise token.fail("'(' is never closed")
            self.at += 1  # the ')'
            return inner
        return _term(token)


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
