"""Filter expressions: modelreg's one small query language over version documents.

``modelreg find``, ``Registry.find()`` and the app's ``/`` filter all use it. ``compile_filter``
parses once and returns a predicate that does no parsing per document.
The syntax is in ``SYNTAX`` (also returned by ``describe_terms()``); the README copies it.
"""

from __future__ import annotations

from store.filter_fields import Predicate
from store.filter_terms import _all_of, _any_of, _negated, _term
from store.filter_tokens import _Token, _tokenize

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
