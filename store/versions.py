"""Model version strings: what is allowed, how they order, what comes next, and constraints.

Rules, in one place:

* A version is ``[A-Za-z0-9._+-]+``, at most 64 characters, not starting with ``.`` or ``-``,
  and not ``latest`` or ``best`` in any case (those are reference keywords).
* A version is *semver-like* when it is an optional ``v``/``V``, one or more numeric dot components,
  an optional ``-prerelease`` and an optional ``+build`` (``v3``, ``1.2``, ``1.2.0-rc.1+gpu``).
  Semver-like versions order by their numbers (``1.2`` == ``1.2.0``); a prerelease sorts before its
  release, with identifiers compared as semver says; the prefix and ``+build`` do not affect order.
* Any other version orders naturally: digit runs as numbers, text case-insensitively (``run9 < run10``).
  Every non-semver version sorts before every semver-like one. Versions that compare equal by these
  rules (``v1.2``, ``1.2.0``, ``1.2.0+b7``) are ordered by their raw string, so the order is total.
* ``next_version`` bumps the latest version in the scheme it already uses; see its docstring.
* Constraints: comma-separated clauses that must all hold: ``>=1.2``, ``>1``, ``<=``, ``<``,
  ``==1.2`` (or ``=1.2``, or a bare ``1.2``), ``!=1.3``, ``^1.2`` (<2), ``^0.3`` (<0.4), ``~1.2`` (<1.3),
  ``~=1.4`` (PEP 440, <2) and ``1.2.*`` (also after ``==`` or ``!=``). Non-semver versions never
  match, and a prerelease matches only when a clause names a prerelease of the same release
  (the npm rule: ``>=1.3.0-rc.1`` admits ``1.3.0-rc.2`` but not ``1.4.0-beta``).
"""

from __future__ import annotations

import operator
import re
from functools import lru_cache
from typing import Callable, Iterable, NamedTuple

from store.errors import BadVersion

MAX_LENGTH = 64
RESERVED = frozenset({"latest", "best"})
BUMPS = ("patch", "minor", "major")

_ALLOWED = re.compile(r"[A-Za-z0-9._+-]+")
_SEMVER = re.compile(
    r"([vV]?)([0-9]+(?:\.[0-9]+)*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z.-]+))?"
)
_DIGITS_OR_TEXT = re.compile(r"[0-9]+|[^0-9]+")
_TRAILING_NUMBER = re.compile(r"(.*?)([0-9]+)")
_CLAUSE = re.compile(r"(\^|~=|~|>=|<=|==|!=|>|<|=)?\s*(.*)")
_CONSTRAINT_STARTS = ("^", "~", "<", ">", "=", "!")
_PRERELEASE_WORDS = frozenset({"a", "b", "c", "alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "nightly", "canary", "test", "exp", "m", "milestone", "cr", "ea"})


class _Semver(NamedTuple):
    prefix: str
    parts: tuple[str, ...]  # as written, so bumps keep zero padding
    pre: str | None
    release: tuple[int, ...]  # without trailing zeros
    order: tuple  # semantic order, flat (see _order)


def validate(version: str) -> str:
    """Return ``version`` stripped, or raise BadVersion saying what is allowed."""
    if not isinstance(version, str):
        raise BadVersion(f"bad version {version!r}: a version is text, for example v3 or 1.2.0")
    text = version.strip()
    if not _ALLOWED.fullmatch(text):
        raise BadVersion(
            f"bad version {version!r}: use letters, digits and . _ + - (for example v3 or 1.2.0)"
        )
    if len(text) > MAX_LENGTH:
        raise BadVersion(f"bad version {text!r}: use at most {MAX_LENGTH} characters, not {len(text)}")
    if text[0] in ".-":
        raise BadVersion(f"bad version {text!r}: must not start with . or - (for example v3 or 1.2.0)")
    if text.lower() in RESERVED:
        raise BadVersion(
            f"bad version {text!r}: 'latest' and 'best' are reserved for references; use e.g. v3"
        )
    return text


def validate_scheme(first: str) -> str:
    """A first version that sets a scheme: valid, and with a number to count up from."""
    text = validate(first)
    if _follow(text, "patch") is None:
        raise BadVersion(f"bad scheme {text!r}: the first version needs a number to count up from "
                         f"(for example v1, v1.0, 1.0.0 or 2024.01)")
    return text


# Keys are flat tuples so that sorting compares ints and strs one level deep, which keeps
# 100,000 versions well under a second. Sort keys start with 1 if semver-like, else 0, and
# every value follows a small int saying what it is, so two keys never put an int against
# a str: -2 starts a prerelease, -1 ends the release or a list of pieces, 0 precedes a
# number, 1 precedes text.
def _release(written: str) -> tuple[int, ...]:
    numbers = list(map(int, written.split(".")))
    while numbers and numbers[-1] == 0:  # 1.2 == 1.2.0
        numbers.pop()
    return tuple(numbers)


def is_prerelease(pre: str | None) -> bool:
    """Is a ``-suffix`` a prerelease (``rc.1``, ``beta``, ``alpha2``, ``dev``, ``0.3``)? Other words
    (``-retry``, ``-fixed``, ``-gpu``) mark a version made after its release, and order after it."""
    if pre is None:
        return False
    first = pre.split(".")[0].lower()
    return first.isdigit() or first.rstrip("0123456789-") in _PRERELEASE_WORDS


def _order(release: tuple[int, ...], pre: str | None) -> tuple:
    if pre is None:
        return (*release, -1, 0)  # a release sorts after its prereleases (-2 < -1)
    ids: list = []
    for ident in pre.split("."):  # semver: numeric identifiers are numbers, before text
        ids += (0, int(ident)) if ident.isdigit() else (1, ident)
    if not is_prerelease(pre):  # v1.5-retry: after v1.5 (0 < 1), before v1.5.1 and v1.6
        return (*release, -1, 1, *ids, -1)
    return (*release, -2, *ids, -1)


@lru_cache(maxsize=1 << 17)
def _parse(version: str) -> _Semver | None:
    match = _SEMVER.fullmatch(version)
    if match is None:
        return None
    prefix, written, pre, _build = match.groups()
    release = _release(written)
    return _Semver(prefix, tuple(written.split(".")), pre, release, _order(release, pre))


@lru_cache(maxsize=1 << 17)
def sort_key(version: str) -> tuple:
    """Key giving the one total order of versions used everywhere (see the module docstring).

    Keys are opaque: compare them, don't look inside.
    """
    match = _SEMVER.fullmatch(version)
    if match is not None:
        return (1, *_order(_release(match.group(2)), match.group(3)), version)
    natural: list = [0]
    for piece in _DIGITS_OR_TEXT.findall(version):
        natural += (0, int(piece)) if "0" <= piece[0] <= "9" else (1, piece.lower())
    return (*natural, -1, version)


def _identity(version: str) -> tuple:
    """What two versions share when they would be confused with each other."""
    parsed = _parse(version)
    return ("semver", parsed.order) if parsed is not None else ("text", version.lower())


def _bump_semver(parsed: _Semver, bump: str) -> str:
    index = {"patch": len(parsed.parts) - 1, "minor": 1, "major": 0}[bump]
    parts = list(parsed.parts)
    if is_prerelease(parsed.pre) and all(int(p) == 0 for p in parts[index + 1 :]):
        # like npm: 1.3.0-rc.2 is followed by 1.3.0, which the bump would reach anyway
        return parsed.prefix + ".".join(parts)
    if index >= len(parts):
        parts.append("0")  # minor bump of a one-number scheme: v1 -> v1.1
    parts[index] = str(int(parts[index]) + 1).zfill(len(parts[index]))
    parts[index + 1 :] = ["0" * len(p) if p[0] == "0" else "0" for p in parts[index + 1 :]]
    return parsed.prefix + ".".join(parts)


def _follow(version: str, bump: str) -> str | None:
    parsed = _parse(version)
    if parsed is not None:
        return _bump_semver(parsed, bump)
    match = _TRAILING_NUMBER.fullmatch(version)
    if match is None:
        return None
    stem, digits = match.groups()
    return stem + str(int(digits) + 1).zfill(len(digits))


def next_version(existing: Iterable[str], bump: str = "patch") -> str:
    """The next version of a model, following the scheme its latest version uses.

    * No versions: ``v1``.
    * Semver-like latest, prefix and component count kept, ``+build`` dropped:
      ``patch`` bumps the last number (``v1 -> v2``, ``v1.0 -> v1.1``, ``1.2.3 -> 1.2.4``);
      ``minor`` bumps the second and zeroes the rest (``1.2.3 -> 1.3.0``; ``v1 -> v1.1`` adds one);
      ``major`` bumps the first and zeroes the rest (``1.2.3 -> 2.0.0``, ``v1.4 -> v2.0``).
      A prerelease latest becomes its release when the bump would not change the release numbers
      (npm's rule): ``1.3.0-rc.2`` gives ``1.3.0`` for patch and minor, ``2.0.0`` for major.
      Zero padding is kept (``2024.09 -> 2024.10``).
    * Other latest ending in digits: those digits go up, ignoring ``bump`` (``run9 -> run10``).
    * Other latest (``final``): ``v{N+1}`` for N existing versions, counting up past any taken.

    The result never equals an existing version, nor one that would order the same
    (``1.2`` vs ``v1.2.0``) or differ only in case. An unknown bump raises BadVersion.
    """
    if bump not in BUMPS:
        raise BadVersion(f"unknown version bump {bump!r}: use patch, minor or major")
    versions = list(existing)
    if not versions:
        return "v1"
    taken = {_identity(v) for v in versions}
    candidate = _follow(max(versions, key=sort_key), bump)
    while candidate is not None and _identity(candidate) in taken:
        candidate = _follow(candidate, bump)  # each step goes strictly up, so this ends
    if candidate is None or len(candidate) > MAX_LENGTH:
        number = len(taken) + 1
        while _identity(f"v{number}") in taken:
            number += 1
        candidate = f"v{number}"
    return candidate


def is_constraint(text: str) -> bool:
    """True when a reference's version part is a constraint (``^1.2``, ``>=1,<2``, ``1.*``)."""
    text = text.strip()
    return text.startswith(_CONSTRAINT_STARTS) or "," in text or text.endswith(".*")


# A clause is (negated, comparisons): it holds when all comparisons hold, or, if negated, when not.
_Clause = tuple[bool, tuple[tuple[Callable[[tuple, tuple], bool], tuple], ...]]
_COMPARE = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "=": operator.eq, "": operator.eq, "!=": operator.ne,
}


def _bad_constraint(constraint: str, clause: str) -> BadVersion:
    return BadVersion(
        f"bad version constraint {constraint!r} (at {clause!r}): use clauses like "
        f">=1.2, <2, ==1.2, !=1.3, ^1.2, ~1.2 or 1.2.*, joined by commas"
    )


def _upper(numbers: tuple[int, ...], index: int) -> tuple:
    return _order(numbers[:index] + (numbers[index] + 1,), None)


def _clause(op: str, target: str) -> tuple[_Clause, tuple | None] | None:
    """Compile one clause; also return the release it names a prerelease of, if any."""
    wildcard = target.endswith(".*")
    parsed = _parse(target[:-2] if wildcard else target)
    if parsed is None or (wildcard and (parsed.pre is not None or op not in ("", "=", "==", "!="))):
        return None
    numbers = tuple(int(p) for p in parsed.parts)
    low = parsed.order
    if wildcard:  # 1.2.* is >=1.2, <1.3
        comparisons = ((operator.ge, low), (operator.lt, _upper(numbers, len(numbers) - 1)))
        return (op == "!=", comparisons), None
    names_pre = parsed.release if is_prerelease(parsed.pre) else None
    if op == "^":  # below the next bump of the first non-zero number
        nonzero = [i for i, n in enumerate(numbers) if n]
        high = _upper(numbers, nonzero[0] if nonzero else len(numbers) - 1)
    elif op == "~":  # ~1.2.3 and ~1.2 stay below 1.3; ~1 below 2
        high = _upper(numbers, min(1, len(numbers) - 1))
    elif op == "~=":  # PEP 440: ~=1.4.2 is below 1.5, ~=1.4 below 2
        if len(numbers) < 2:
            return None
        high = _upper(numbers, len(numbers) - 2)
    else:
        return (False, ((_COMPARE[op], low),)), names_pre
    return (False, ((operator.ge, low), (operator.lt, high))), names_pre


@lru_cache(maxsize=1024)
def _compile(constraint: str) -> tuple[tuple[_Clause, ...], frozenset]:
    clauses, pre_releases = [], set()
    for raw in constraint.split(","):
        match = _CLAUSE.fullmatch(raw.strip())
        compiled = _clause(match.group(1) or "", match.group(2).strip()) if match else None
        if compiled is None:
            raise _bad_constraint(constraint, raw.strip())
        clauses.append(compiled[0])
        if compiled[1] is not None:
            pre_releases.add(compiled[1])
    return tuple(clauses), frozenset(pre_releases)


def matches(version: str, constraint: str) -> bool:
    """Whether ``version`` satisfies ``constraint``; a malformed constraint raises BadVersion."""
    clauses, pre_releases = _compile(constraint.strip())
    parsed = _parse(version)
    if parsed is None:
        return False
    if is_prerelease(parsed.pre) and parsed.release not in pre_releases:
        return False
    key = parsed.order
    return all(
        all(compare(key, bound) for compare, bound in comparisons) != negated
        for negated, comparisons in clauses
    )


def resolve_constraint(constraint: str, existing: Iterable[str]) -> str | None:
    """The highest version in ``existing`` (by sort_key) that satisfies ``constraint``, or None."""
    _compile(constraint.strip())  # a malformed constraint fails even when there are no versions
    found = [v for v in existing if matches(v, constraint)]
    return max(found, key=sort_key) if found else None
