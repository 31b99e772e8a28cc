"""Version strings: validation, the one total order, next versions and constraints."""

from __future__ import annotations

import random

import pytest

from store.errors import BadVersion
from store.versions import (
    is_constraint,
    matches,
    next_version,
    resolve_constraint,
    sort_key,
    validate,
)


def shuffled_sorts(versions: list[str], rounds: int = 20) -> list[list[str]]:
    rng = random.Random(1234)
    results = []
    for _ in range(rounds):
        pile = list(versions)
        rng.shuffle(pile)
        results.append(sorted(pile, key=sort_key))
    return results


def assert_one_line_naming(error: pytest.ExceptionInfo, text: str) -> None:
    message = str(error.value)
    assert repr(text) in message
    assert "\n" not in message


# --- validate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [("v3", "v3"), ("  1.2.0 \n", "1.2.0"), ("run_10", "run_10"), ("1.0.0-rc.1+gpu", "1.0.0-rc.1+gpu"),
     ("x" * 64, "x" * 64), ("latest-v2", "latest-v2"), ("bestfit", "bestfit"), ("_tmp", "_tmp")],
)
def test_validate_returns_the_stripped_version(given: str, expected: str) -> None:
    assert validate(given) == expected


@pytest.mark.parametrize(
    "bad",
    ["a b", "", "   ", "v1/2", "v1:2", "é1", "a\nb", "1,2", "x" * 65, ".hidden", "-1", "latest", "best",
     "LATEST", "Best", " latest "],
)
def test_validate_refuses_with_a_one_line_message_naming_the_version(bad: str) -> None:
    with pytest.raises(BadVersion) as error:
        validate(bad)
    message = str(error.value)
    assert repr(bad) in message or repr(bad.strip()) in message
    assert "\n" not in message


def test_validate_says_what_is_allowed() -> None:
    with pytest.raises(BadVersion, match=r"letters, digits and \. _ \+ -"):
        validate("a b")
    with pytest.raises(BadVersion, match="reserved"):
        validate("latest")
    with pytest.raises(BadVersion, match="64"):
        validate("x" * 65)


def test_validate_refuses_non_text() -> None:
    with pytest.raises(BadVersion, match="3"):
        validate(3)  # type: ignore[arg-type]


# --- sort_key ---------------------------------------------------------------------------------

EXPECTED_ORDER = [
    # not semver-like: natural order, case-insensitive, before every semver-like version
    "alpha", "Beta", "final", "run2", "run9", "run10", "run10-b2", "run10-b10", "run10b",
    # semver-like, including the semver spec's own prerelease example
    "0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
    "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.1", "1.2.0-rc.1", "1.2.0-rc.2", "1.2.0", "v1.2.1+build9",
    "1.10.0", "v2", "v9", "v10", "V11", "2024.01.15", "2024.1.16",
]


def test_sort_key_gives_the_expected_order_from_any_shuffle() -> None:
    for result in shuffled_sorts(EXPECTED_ORDER):
        assert result == EXPECTED_ORDER


@pytest.mark.parametrize(
    ("low", "high"),
    [("v2", "v10"), ("run9", "run10"), ("1.2.0-rc.1", "1.2.0"), ("1.2.0", "1.10.0"), ("1.9", "1.10.0"),
     ("1.2", "1.2.1"), ("1.2.0-rc.1", "1.2.0+zzz"), ("1.2.0+zzz", "1.2.1"), ("final", "v1"),
     ("zzz99", "0"), ("1.0.0-2", "1.0.0-10"), ("1.0.0-10", "1.0.0-a"), ("1.0.0-rc.1", "1.0.0-rc.1.0")],
)
def test_sort_key_pairs(low: str, high: str) -> None:
    assert sort_key(low) < sort_key(high)
    assert sorted([high, low], key=sort_key) == [low, high]


def test_versions_equal_in_meaning_are_ordered_by_their_raw_text() -> None:
    same = ["1.2", "1.2.0", "1.2.0+b2", "V1.2", "v1.2.0", "v1.2.0+b1"]
    assert len({sort_key(v) for v in same}) == len(same)
    for result in shuffled_sorts(same):
        assert result == sorted(same)  # plain string order breaks the tie
    assert sorted(["Run1", "run1", "RUN1"], key=sort_key) == ["RUN1", "Run1", "run1"]


def test_odd_strings_compare_without_type_errors_and_totally() -> None:
    odd = ["", "0", "1", "a", "1a", "a1", "1.a", "v", "V1-x.1", "1.2.3-0.a.1", "1..2", "1.", "x-1.2",
           "1.2+b", "1.2+", "\u0663", "\u00b2", "v1-rc", "1-rc-1", "1.2.3.4.5", "007", "7", "_", "a.b.c",
           "1.2.3-rc..1", "1.2.3-rc.01", "-1", "+1"]
    results = shuffled_sorts(odd)
    assert all(result == results[0] for result in results)
    assert len({sort_key(v) for v in odd}) == len(odd)


def test_a_hundred_thousand_mixed_versions_sort_deterministically() -> None:
    versions = (
        [f"v{i}" for i in range(30_000)]
        + [f"{a}.{b}.{c}" for a in range(10) for b in range(30) for c in range(100)]
        + [f"run{i}" for i in range(20_000)]
        + [f"1.{i}.0-rc.{i % 7}" for i in range(20_000)]
    )
    first, second = shuffled_sorts(versions, rounds=2)
    assert first == second
    assert first[0] == "run0" and first[19_999] == "run19999"
    assert first[-1] == "v29999"
    assert first.index("1.5.0-rc.5") < first.index("1.5.0") < first.index("1.10.0")


# --- next_version -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "bump", "expected"),
    [
        ([], "patch", "v1"),
        ([], "major", "v1"),
        (["v1"], "patch", "v2"),
        (["v1", "v10", "v2"], "patch", "v11"),
        (["V3"], "patch", "V4"),
        (["v1.0"], "patch", "v1.1"),
        (["1.2.3"], "patch", "1.2.4"),
        (["1.2.3", "1.10.0", "1.9.9"], "patch", "1.10.1"),
        (["1.2.3.4"], "patch", "1.2.3.5"),
        (["1.2.3"], "minor", "1.3.0"),
        (["v1"], "minor", "v1.1"),
        (["v1.4"], "minor", "v1.5"),
        (["1.2.3.4"], "minor", "1.3.0.0"),
        (["1.2.3"], "major", "2.0.0"),
        (["v1.4"], "major", "v2.0"),
        (["v1"], "major", "v2"),
        # a prerelease becomes its release when the bump would not pass it (npm's rule)
        (["1.2.0", "1.3.0-rc.2"], "patch", "1.3.0"),
        (["1.3.0-rc.2"], "minor", "1.3.0"),
        (["1.3.0-rc.2"], "major", "2.0.0"),
        (["1.3.1-rc.1"], "minor", "1.4.0"),
        (["2.0.0-beta"], "major", "2.0.0"),
        (["v2-rc.1"], "patch", "v2"),
        # build metadata is dropped, zero padding is kept
        (["1.2.3+gpu7"], "patch", "1.2.4"),
        (["2024.09"], "patch", "2024.10"),
        (["2024.09.05"], "minor", "2024.10.00"),
        (["1.2.13"], "minor", "1.3.0"),
        # not semver-like: trailing digits go up whatever the bump, else v{N+1}
        (["run9"], "patch", "run10"),
        (["run8", "run9"], "major", "run10"),
        (["exp-009"], "patch", "exp-010"),
        (["final"], "patch", "v2"),
        (["final", "baseline", "candidate-b"], "minor", "v4"),
        (["final", "v1"], "patch", "v2"),  # the semver-like version is the latest
    ],
)
def test_next_version_follows_the_scheme_in_use(existing: list[str], bump: str, expected: str) -> None:
    assert next_version(existing, bump) == expected
    assert next_version(iter(existing), bump) == expected  # any iterable, read once


def test_next_version_defaults_to_a_patch_bump() -> None:
    assert next_version(["1.2.3"]) == "1.2.4"


def test_next_version_falls_back_when_following_would_be_too_long() -> None:
    long = "x" * 62 + "99"
    assert validate(long) == long
    assert next_version([long]) == "v2"


@pytest.mark.parametrize("seed", [["v1"], ["0.1.0"], ["v1.0"], ["1.0.0-rc.1"], ["final"], ["run9"],
                                  ["2024.09.05"], ["final", "v3", "1.2"]])
def test_next_version_never_collides_and_always_goes_up(seed: list[str]) -> None:
    rng = random.Random(7)
    existing = list(seed)
    for _ in range(60):
        new = next_version(existing, rng.choice(["patch", "minor", "major"]))
        assert validate(new) == new
        assert new.lower() not in {v.lower() for v in existing}
        assert all(sort_key(new) > sort_key(v) for v in existing)
        if not new.startswith("run"):  # nothing already there means the same, e.g. 1.3 vs v1.3.0
            assert not any(matches(v, f"=={new}") for v in existing)
        existing.append(new)


def test_next_version_picks_the_same_latest_among_equal_versions_in_any_order() -> None:
    for order in shuffled_sorts(["1.3", "v1.3.0", "1.2.9", "1.3.0+b1"]):
        assert next_version(reversed(order)) == "v1.3.1"  # v1.3.0 wins the raw tie-break


@pytest.mark.parametrize("bump", ["micro", "", "PATCH", "build"])
def test_next_version_refuses_an_unknown_bump(bump: str) -> None:
    with pytest.raises(BadVersion) as error:
        next_version(["v1"], bump)
    assert_one_line_naming(error, bump)
    with pytest.raises(BadVersion):
        next_version([], bump)


# --- constraints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["^1.2", "~1.2", "~=1.4", ">=1", "<2", "=1.2", "==1.2", "!=1.3", "1.2,1.3", "1.2.*", " >=1",
             ">=1.2,<2", "v1.*"],
)
def test_is_constraint_true(text: str) -> None:
    assert is_constraint(text)


@pytest.mark.parametrize("text", ["1.2", "v3", "latest", "best", "final", "1.2.0-rc.1", "run10", ""])
def test_is_constraint_false(text: str) -> None:
    assert not is_constraint(text)


@pytest.mark.parametrize(
    ("constraint", "yes", "no"),
    [
        (">=1.2,<2", ["1.2.0", "1.2", "v1.9.9", "1.10"], ["2.0.0", "v2", "1.1.9"]),
        (" >= 1.2 , < 2 ", ["1.5"], ["2"]),
        (">1", ["1.0.1", "v1.1"], ["1", "v1.0.0", "0.9"]),
        ("<=1.2", ["1.2.0", "0.1"], ["1.2.1"]),
        ("<1.2", ["1.1.99"], ["1.2", "1.2.0+b1"]),
        ("==1.2", ["1.2.0", "v1.2", "1.2.0+b5", "1.2"], ["1.2.1", "1.20"]),
        ("=1.2", ["v1.2.0"], ["1.3"]),
        ("1.2,!=1.2.1", ["1.2.0"], ["1.2.1"]),
        ("!=1.3", ["1.4", "1.2"], ["1.3.0", "v1.3"]),
        ("^1.2", ["1.2.0", "1.9.0", "v1.4"], ["2.0.0", "1.1.9", "0.9"]),
        ("^0.3", ["0.3.0", "0.3.9"], ["0.4.0", "0.2.9"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
        ("^0", ["0.9.9"], ["1.0.0"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.2.2", "1.3"]),
        ("~1", ["1.0", "1.9"], ["2", "0.9"]),
        ("~=1.4", ["1.4", "1.9"], ["2.0", "1.3"]),
        ("~=1.4.2", ["1.4.2", "1.4.9"], ["1.4.1", "1.5"]),
        ("1.2.*", ["1.2.0", "1.2.17", "v1.2.5", "1.2"], ["1.3.0", "1.1", "1.20.0"]),
        ("v1.*", ["1.0", "1.99.3"], ["2.0", "0.9"]),
        ("==1.*", ["1.9"], ["2.0"]),
        ("!=1.2.*", ["1.3", "1.1.9"], ["1.2.5", "1.2"]),
        (">=1,!=1.4,<2", ["1.2", "1.5"], ["1.4.0", "2"]),
    ],
)
def test_matches(constraint: str, yes: list[str], no: list[str]) -> None:
    for version in yes:
        assert matches(version, constraint), (version, constraint)
    for version in no:
        assert not matches(version, constraint), (version, constraint)


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("1.3.0-rc.1", "^1.2", False),  # prereleases stay out unless asked for
        ("2.0.0-rc.1", "<2", False),
        ("1.3.0-rc.2", ">=1.3.0-rc.1", True),
        ("1.3.0", ">=1.3.0-rc.1", True),
        ("1.3.0-beta", ">=1.3.0-rc.1", False),
        ("1.4.0-beta", ">=1.3.0-rc.1", False),  # a prerelease of another release: npm's rule
        ("v1.3.0-rc.1", "==1.3.0-rc.1", True),
        ("1.3.0-rc.1", "==1.3.0-rc.1+b2", True),
        ("1.3.0-rc.3", "~1.3.0-rc.1", True),
    ],
)
def test_prereleases_match_only_when_the_constraint_names_one(version: str, constraint: str,
                                                              expected: bool) -> None:
    assert matches(version, constraint) is expected


@pytest.mark.parametrize("version", ["final", "run1", "latest", "v1x", ""])
def test_non_semver_versions_never_match(version: str) -> None:
    for constraint in [">=0", "<99", "!=1", "^1", "1.*", ">=0,<99"]:
        assert not matches(version, constraint)


EXISTING = ["v1.0", "v1.2", "v1.4", "v2.0", "1.3.0-rc.1", "final", "2.1.0-beta", "run99"]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.2", "v1.4"),
        (">=1.2,<2", "v1.4"),
        ("<1.2", "v1.0"),
        ("1.*", "v1.4"),
        ("~1.3.0-rc.1", "1.3.0-rc.1"),
        (">=2", "v2.0"),
        (">=2.1.0-beta", "2.1.0-beta"),
        (">=1,!=1.4,<2", "v1.2"),
        ("==1.2", "v1.2"),
        (">=3", None),
        ("^0.1", None),
        ("!=1.0,<1.1", None),
    ],
)
def test_resolve_constraint_picks_the_highest_match(constraint: str, expected: str | None) -> None:
    assert resolve_constraint(constraint, EXISTING) == expected
    assert resolve_constraint(constraint, reversed(EXISTING)) == expected


def test_resolve_constraint_with_no_versions_is_none() -> None:
    assert resolve_constraint("^1", []) is None


def test_resolve_constraint_breaks_ties_the_same_way_as_sort_key() -> None:
    versions = ["1.4.0", "v1.4", "1.4"]
    expected = max(versions, key=sort_key)
    for order in shuffled_sorts(versions):
        assert resolve_constraint("^1", order) == expected == "v1.4"


@pytest.mark.parametrize(
    "bad",
    [">=", "^", "^final", ">=1.2,", ",", ">=1.2,,<2", "1.2.*.3", ">=1.*", "^1.*", ">>1", "=>1",
     "1.2-rc.*", "~=1", "<1 >0", "", "^v", "!1", "*", "1.x", ">=latest", "^1.2; rm"],
)
def test_malformed_constraints_raise_bad_version_naming_them(bad: str) -> None:
    with pytest.raises(BadVersion) as error:
        matches("1.2.0", bad)
    assert_one_line_naming(error, bad.strip())
    with pytest.raises(BadVersion):
        resolve_constraint(bad, [])
