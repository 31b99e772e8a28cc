"""The filter language: every term form, precedence, negation, globs, missing fields and errors."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from store.errors import FilterError, ModelregError
from store.filters import SYNTAX, compile_filter, describe_terms


def version_doc(**changes: Any) -> dict[str, Any]:
    """A complete version document shaped like the store's, with ``changes`` applied on top."""
    doc: dict[str, Any] = {
        "model": "sentiment",
        "version": "v3",
        "status": "completed",
        "created_at": "2026-11-23T09:12:00.123456+00:00",
        "registered_by": "alice@gpu1",
        "artifacts": [{"path": "/runs/model.pkl", "kind": "file", "size": 1234, "sha256": None,
                       "framework": "sklearn", "mtime": 1763888000.0}],
        "metrics": {"accuracy": 0.93, "val_loss": 0.21, "f1": 0.85},
        "params": {"max_depth": 5, "criterion": "gini", "shuffle": True, "seed": None,
                   "optimizer": {"lr": 0.01, "name": "adam"}},
        "training": {"framework": "sklearn", "samples": 1000, "epochs": 3, "batch_size": 32,
                     "learning_rate": 0.001, "hardware": "A100"},
        "training_data": ["imdb-train-v2", "s3://bucket/reviews/2026.csv"],
        "git_commit": "abc1234",
        "parent": "sentiment:v2",
        "tags": ["baseline", "Prod-Candidate"],
        "notes": "Lowered the learning rate after epoch 2",
        "extra": {"dataset": "imdb", "team": {"name": "nlp"}, "f1.macro": 0.8},
        "estimator": {"class": "sklearn.tree.DecisionTreeClassifier", "n_features": 4},
    }
    doc.update(changes)
    return doc


def matches(expr: str, doc: dict[str, Any] | None = None) -> bool:
    return compile_filter(expr)(version_doc() if doc is None else doc)


def assert_names_term(expr: str, number: int, term: str, *why: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        compile_filter(expr)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bad filter term {number} '{term}': "), message
    for part in why:
        assert part in message, message
    return caught.value


# --- comparisons -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("accuracy>0.9", True), ("accuracy>0.95", False), ("accuracy>=0.93", True), ("accuracy<=0.93", True),
        ("accuracy<0.93", False), ("accuracy=0.93", True), ("accuracy==0.93", True), ("accuracy!=0.93", False),
        ("metrics.f1>=0.8", True), ("metrics.f1>=0.9", False), ("f1>0.8", True),
        ("val_loss<0.3", True), ("val_loss<0.2", False),
        ("params.max_depth=5", True), ("params.max_depth=5.0", True), ("max_depth>4", True), ("max_depth>5", False),
        ("params.criterion=gini", True), ("criterion=entropy", False), ("criterion!=entropy", True),
        ("training.epochs>=3", True), ("training.epochs>3", False), ("epochs=3", True), ("batch_size=32", True),
        ("learning_rate<0.01", True), ("hardware=A100", True), ("training.hardware=a100", False),
        ("extra.dataset=imdb", True), ("dataset=imdb", True), ("extra.dataset=sst2", False),
        ("estimator.n_features=4", True), ("estimator.class~tree", True),
        ("accuracy>-1", True), ("accuracy>+0.5", True), ("accuracy<1e0", True), ("accuracy>.9", True),
    ],
)
def test_comparisons_on_sections(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("model=sentiment", True), ("model=sent", False), ("version=v3", True), ("version!=v3", False),
        ("status=completed", True), ("status=deployed", False), ("parent=sentiment:v2", True),
        ("git_commit=abc1234", True), ("registered_by=alice@gpu1", True), ("registered_by~ALICE", True),
        ("notes~'learning rate'", True), ("notes~\"LEARNING rate\"", True), ("notes~batch", False),
        ("created_at>2026-11-01", True), ("created_at>2026-12-01", False), ("created_at<2027", True),
        ("created_at>=2026-11-23T09:12", True),
    ],
)
def test_comparisons_on_top_level_fields(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


def test_top_level_fields_compare_as_text_even_when_the_value_looks_like_a_number() -> None:
    doc = version_doc(version="1.2", git_commit="1234567")
    assert matches("version=1.2", doc)
    assert not matches("version=1.20", doc)  # text, so 1.2 and 1.20 differ
    assert matches("git_commit=1234567", doc)
    assert matches("version=3", version_doc(version="3"))


def test_framework_means_training_framework_or_any_artifact_framework() -> None:
    assert matches("framework=sklearn")
    from_artifact = version_doc(training={}, artifacts=[{"path": "/a"}, {"path": "/b", "framework": "pytorch"}])
    assert matches("framework=pytorch", from_artifact)
    assert matches("framework=py*", from_artifact)
    assert not matches("framework=sklearn", from_artifact)
    nowhere = version_doc(training={}, artifacts=[])
    assert not matches("framework=sklearn", nowhere)
    assert not matches("framework!=sklearn", nowhere)
    assert matches("-framework=sklearn", nowhere)


def test_bare_names_look_in_metrics_then_params_then_training_then_extra() -> None:
    doc = version_doc(
        metrics={"score": 0.5}, params={"score": 10, "depth": 3}, training={"depth": 7, "epochs": 2},
        extra={"epochs": 99, "owner": "nlp"},
    )
    assert matches("score=0.5", doc)  # metrics wins over params
    assert matches("depth=3", doc)  # params wins over training
    assert matches("epochs=2", doc)  # training wins over extra
    assert matches("owner=nlp", doc)  # extra last
    assert not matches("estimator_only=1", version_doc(estimator={"estimator_only": 1}))  # not searched bare


def test_first_section_with_the_key_decides_even_when_its_value_does_not_match() -> None:
    doc = version_doc(metrics={"depth": "n/a"}, params={"depth": 3})
    assert not matches("depth=3", doc)


def test_dots_go_deeper_and_keys_containing_dots_are_found_whole() -> None:
    assert matches("params.optimizer.lr=0.01")
    assert matches("params.optimizer.name=adam")
    assert matches("extra.team.name=nlp")
    assert matches("team.name=nlp")  # a bare dotted name descends too
    assert matches("extra.f1.macro>=0.8")
    assert matches("f1.macro=0.8")
    assert not matches("params.optimizer.lr.x=1")
    assert not matches("params.criterion.x=1")  # criterion is text, not a section


def test_true_false_and_null_literals() -> None:
    assert matches("params.shuffle=true")
    assert matches("shuffle=TRUE")
    assert matches("shuffle!=false")
    assert not matches("shuffle=false")
    assert matches("seed=null")
    assert not matches("seed!=null")
    assert matches("max_depth!=null")
    assert not matches("missing_key=null")  # missing is not null
    assert not matches("missing_key!=null")


def test_quoted_values_are_always_text() -> None:
    doc = version_doc(params={"flag": "true", "depth": "5", "note": "a>b: c"})
    assert matches('flag="true"', doc)
    assert not matches("flag=true", doc)  # the literal true is a bool
    assert matches("depth='5'", doc)
    assert not matches("depth=5", doc)
    assert matches('note="a>b: c"', doc)
    assert matches("note='a>b:'*", doc)  # quoted part, then an unquoted glob star
    assert matches(r"note=a\>b:\ c", doc)  # backslash escapes work like quotes


def test_quoted_names_may_hold_spaces_and_operators() -> None:
    doc = version_doc(metrics={"val loss": 0.2, "a=b": 1})
    assert matches('"val loss"<0.3', doc)
    assert matches("'a=b'=1", doc)


def test_tilde_is_case_insensitive_substring_or_glob_on_text() -> None:
    assert matches("notes~LEARNING")
    assert matches("notes~lowered*2")
    assert matches("notes~lowered")
    assert not matches("notes~lowered*3")
    assert matches("criterion~GIN")
    assert not matches("accuracy~0.9")  # a number is not text
    assert matches("version~3")  # top-level text, the 3 stays text


def test_equals_with_star_or_question_mark_is_a_case_insensitive_glob() -> None:
    assert matches("model=SENT*")
    assert matches("version=v?")
    assert not matches("version=v??")
    assert matches("criterion=g*")
    assert matches("criterion!=e*")
    assert not matches("criterion!=G*")
    assert matches("hardware=a1*")
    assert not matches("criterion=gin")  # no star: exact and case-sensitive
    assert not matches("criterion=GINI")


def test_ordering_text_compares_as_strings() -> None:
    assert matches("criterion>gamma")
    assert matches("criterion<zeta")
    assert matches("registered_by>=alice")


# --- missing fields and type mismatches --------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    ["nosuch>0", "nosuch=x", "nosuch!=x", "nosuch~x", "metrics.nosuch<1", "extra.a.b.c=1", "git_commit=abc1234",
     "notes~rate", "framework=sklearn", "tag:baseline", "status:completed", "data:imdb", "parent:v2",
     "model:sentiment"],
)
def test_a_missing_field_never_matches_but_its_negation_does(expr: str) -> None:
    bare = {"model": "other", "version": "v1"}
    assert not matches(expr, bare)
    assert matches(f"-{expr}", bare)
    assert matches(f"not {expr}", bare)


def test_a_document_without_any_sections_is_safe() -> None:
    doc = {"model": "m", "version": "v1", "status": "draft", "metrics": None, "params": [], "extra": "text"}
    for expr in ["accuracy>0.9", "x=y", "extra.x=1", "params.a.b=1", "framework=x", "tag:a", "data:a", "word"]:
        assert not matches(expr, doc)


@pytest.mark.parametrize(
    ("value", "expr"),
    [
        ("n/a", "accuracy>0.9"), ("n/a", "accuracy!=0.9"), ("0.95", "accuracy>0.9"), (True, "accuracy>0"),
        (True, "accuracy=1"), (False, "accuracy=0"), (None, "accuracy<1"), ([0.95], "accuracy>0.9"),
        ({"v": 1}, "accuracy>0"), (0.95, "accuracy>high"), (0.95, "accuracy=high"), (0.95, "accuracy~9"),
        (1, "accuracy=true"), (0, "accuracy=false"), (0.0, "accuracy=null"), ("null", "accuracy=null"),
        (["a"], "accuracy=a"),
    ],
)
def test_type_mismatches_never_match_and_never_raise(value: Any, expr: str) -> None:
    doc = version_doc(metrics={"accuracy": value})
    assert matches(expr, doc) is False
    assert matches(f"-{expr}", doc) is True


def test_ints_and_floats_compare_as_numbers() -> None:
    assert matches("max_depth<5.5")
    assert matches("accuracy<1")
    assert matches("samples=1e3")
    assert matches("samples>999.9")


# --- shorthands and bare words -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("tag:baseline", True), ("tag:BASELINE", True), ("tag:base", False), ("tag:base*", True),
        ("tag:prod-candidate", True), ("tag:*candidate", True), ("tag:gold", False),
        ("status:completed", True), ("status:COMPLETED", True), ("status:deployed", False), ("status:comp*", True),
        ("model:sentiment", True), ("model:sent*", True), ("model:sent", False), ("model:*ment", True),
        ("data:imdb", True), ("data:IMDB-train", True), ("data:reviews/2026", True), ("data:sst2", False),
        ("data:imdb*", True), ("data:imdb", True), ("data:*.csv", True), ("data:train*", False),
        ("parent:sentiment:v2", True), ("parent:v2", True), ("parent:V2", True), ("parent:v1", False),
        ("parent:other:v2", False), ("parent:sent*:v2", True), ("parent:v*", True),
    ],
)
def test_shorthands(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("senti", True), ("SENTI", True), ("v3", True), ("candid", True), ("learning", True), ("epoch", True),
        ("imdb", False),  # training data is data:, not a bare word
        ("gini", False),  # params are not searched by bare words
        ("alice", False), ("sent*", True), ("*rate*", True), ("v?", True), ("x*", False),
        ("'sentiment:v3'", False), ("'after epoch'", True),
    ],
)
def test_bare_words_search_model_version_tags_and_notes(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


def test_a_quoted_colon_or_operator_makes_a_bare_word() -> None:
    doc = version_doc(notes="see http://x for status:ok and a>b")
    assert matches('"status:ok"', doc)
    assert matches("'a>b'", doc)
    assert matches(r"http\://x", doc)


# --- and, or, not ------------------------------------------------------------------------------------


def test_empty_expression_matches_everything() -> None:
    for expr in ["", "   ", "\t\n"]:
        assert matches(expr)
        assert matches(expr, {"model": "m", "version": "v1"})


def test_terms_separated_by_spaces_must_all_match() -> None:
    assert matches("accuracy>0.9 tag:baseline framework=sklearn")
    assert not matches("accuracy>0.9 tag:baseline framework=pytorch")
    assert not matches("accuracy>0.99 tag:baseline")
    assert matches("accuracy>0.9 and tag:baseline")
    assert matches("accuracy>0.9 AND tag:baseline")


def test_or_joins_groups_and_and_binds_tighter() -> None:
    yes, no = "accuracy>0.9", "accuracy>0.99"
    assert matches(f"{yes} {no} or {yes}")  # (yes and no) or yes
    assert not matches(f"{yes} {no} or {no}")  # (yes and no) or no
    assert matches(f"{no} or {yes} {yes}")  # no or (yes and yes)
    assert not matches(f"{no} or {yes} {no}")  # no or (yes and no)
    assert matches(f"{no} {yes} or {yes} {yes}")
    assert not matches(f"{no} {yes} or {yes} {no}")
    assert matches(f"{no} or {no} or {yes}")
    assert matches(f"{yes} OR {no}")


def test_precedence_differs_from_left_to_right_evaluation() -> None:
    # a or b c: with AND tighter this is a or (b and c) = True; left to right ((a or b) and c) would be False.
    assert matches("tag:baseline or tag:gold status:deployed")
    # a b or c: (a and b) or c = False here; a and (b or c) would be True.
    assert not matches("tag:gold status:completed or status:deployed")
    assert matches("status:completed tag:gold or tag:baseline")


def test_negation_with_dash_and_not() -> None:
    assert not matches("-tag:baseline")
    assert matches("-tag:gold")
    assert matches("not tag:gold")
    assert matches("NOT tag:gold")
    assert matches("not not tag:baseline")
    assert matches("not -tag:baseline")
    assert matches("-accuracy<0.5")
    assert matches("-status:archived -status:draft")
    assert not matches("not accuracy>0.9 or status:deployed")  # (not a) or b
    assert matches("not accuracy>0.99 or status:deployed")
    assert matches("-senti") is False
    assert matches("accuracy>-1")  # a minus inside a value is not negation


def test_quoted_keywords_and_dashes_are_plain_words() -> None:
    doc = version_doc(notes="either this or that, not -x")
    assert matches('"or"', doc)
    assert matches("'not'", doc)
    assert matches("'and' 'or'", doc)
    assert matches("'-x'", doc)
    assert not matches("'or'")


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "number", "term"),
    [
        ("tag:baseline accuracy>>0.9", 2, "accuracy>>0.9"),
        ("accuracy=>0.9", 1, "accuracy=>0.9"),
        ("accuracy=<0.9", 1, "accuracy=<0.9"),
        ("accuracy!0.9", 1, "accuracy!0.9"),
        ("accuracy~=x", 1, "accuracy~=x"),
        ("accuracy<>1", 1, "accuracy<>1"),
        ("=0.9", 1, "=0.9"),
        (">3", 1, ">3"),
        ("-<3", 1, "-<3"),
    ],
)
def test_a_bad_operator_or_missing_name_names_the_term(expr: str, number: int, term: str) -> None:
    assert_names_term(expr, number, term, "expected NAME OP VALUE", "= == != > >= < <= ~")


@pytest.mark.parametrize("expr", ["accuracy>", "accuracy=", "x~", "-version="])
def test_a_missing_value_names_the_term(expr: str) -> None:
    assert_names_term(expr, 1, expr, "missing value after")


def test_an_empty_quoted_value_is_allowed() -> None:
    assert matches('notes=""', version_doc(notes=""))
    assert not matches("notes=''")


@pytest.mark.parametrize("prefix", ["tag", "status", "model", "data", "parent"])
def test_a_shorthand_without_a_value_names_the_term(prefix: str) -> None:
    assert_names_term(f"accuracy>0.9 {prefix}:", 2, f"{prefix}:", f"{prefix}: needs a value")


def test_an_unknown_prefix_lists_the_known_ones() -> None:
    error = assert_names_term("tags:baseline", 1, "tags:baseline", "unknown prefix 'tags:'")
    for prefix in ["tag:", "status:", "model:", "data:", "parent:"]:
        assert prefix in str(error)
    assert_names_term("a sentiment:v3", 2, "sentiment:v3", "unknown prefix 'sentiment:'", "quote")


def test_an_unknown_status_lists_the_statuses() -> None:
    assert_names_term("status:deployd", 1, "status:deployd", "unknown status 'deployd'", "deployed", "archived")


@pytest.mark.parametrize(
    ("expr", "number", "term"),
    [("or a", 1, "or"), ("a or", 2, "or"), ("a or or b", 3, "or"), ("a b or", 3, "or"), ("or", 1, "or"),
     ("OR a", 1, "OR"), ("and a", 1, "and"), ("a and", 2, "and"), ("a or and b", 3, "and"),
     ("a and or b", 3, "or")],
)
def test_or_and_need_a_term_on_each_side(expr: str, number: int, term: str) -> None:
    assert_names_term(expr, number, term, "needs a term on each side")


@pytest.mark.parametrize(
    ("expr", "number"), [("not", 1), ("a not", 2), ("not or a", 1), ("a not and b", 2), ("not not", 2)]
)
def test_not_needs_a_term_after_it(expr: str, number: int) -> None:
    assert_names_term(expr, number, "not", "'not' needs a term after it")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [("accuracy>0.9 (tag:nothing or status:completed)", True), ("(accuracy>0.9 tag:nothing) or status:draft", False),
     ("accuracy>0.99 tag:baseline or status:completed", True), ("accuracy>0.99 (tag:baseline or status:completed)", False),
     ("not (tag:baseline or tag:x)", False), ("not (tag:x or tag:y)", True), ("((accuracy>0.9))", True),
     ("(accuracy>0.9) (tag:baseline)", True), ("(tag:x or (tag:y or tag:baseline)) model:sent*", True)],
)
def test_parentheses_group_terms(expr: str, expected: bool) -> None:
    assert matches(expr) is expected


@pytest.mark.parametrize(
    ("expr", "number", "term", "why"),
    [("(accuracy>0.5", 1, "(", "'(' is never closed"), ("a (b (c)", 2, "(", "'(' is never closed"),
     ("accuracy>0.5)", 2, ")", "')' closes nothing"), ("(a) b)", 5, ")", "')' closes nothing"),
     (")", 1, ")", "')' closes nothing"), ("()", 1, "(", "'()' holds no term"), ("not ( )", 2, "(", "'()' holds no term"),
     ("(a or)", 3, "or", "needs a term on each side"), ("(or a)", 2, "or", "needs a term on each side"),
     ("(not) a", 2, "not", "'not' needs a term after it")],
)
def test_unbalanced_or_empty_parentheses_name_the_term(expr: str, number: int, term: str, why: str) -> None:
    assert_names_term(expr, number, term, why)


def test_parentheses_inside_a_word_or_quoted_are_text() -> None:
    doc = version_doc(notes="uses f(x) here", tags=["(wip)"])
    assert matches("notes~f(x", doc) and matches("notes~s(f(x", doc) is False and matches('notes~"f(x)"', doc)
    assert_names_term("notes~f(x)", 2, ")", "')' closes nothing")  # a ')' ending a word groups: quote it
    assert matches("tag:'(wip)'", doc) and not matches("tag:'(wip'", doc)
    assert_names_term("(accuracy>0.5", 1, "(", "never closed")  # never a metric named '(accuracy'


def test_a_lone_dash_names_the_term() -> None:
    assert_names_term("a - b", 2, "-", "'-' needs a term")


@pytest.mark.parametrize(
    ("expr", "literal"), [("shuffle>true", "true"), ("seed<null", "null"), ("x~true", None), ("x>=false", "false")]
)
def test_true_false_null_only_with_equality(expr: str, literal: str | None) -> None:
    if literal is None:  # ~ is text matching, so true is just the word
        compile_filter(expr)
        return
    assert_names_term(expr, 1, expr, "compare only with = or !=")


@pytest.mark.parametrize(
    ("expr", "number", "term", "quote"),
    [('notes~"learning rate', 1, 'notes~"learning rate', '"'), ("a 'b", 2, "'b", "'"),
     ('a tag:x "or b', 3, '"or b', '"')],
)
def test_an_unclosed_quote_names_the_term(expr: str, number: int, term: str, quote: str) -> None:
    assert_names_term(expr, number, term, f"unclosed {quote} quote")


def test_filter_errors_are_user_errors() -> None:
    assert issubclass(FilterError, ModelregError)


# --- scale, syntax text, and through the registry ---------------------------------------------------


def many_docs(count: int) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    docs = []
    for i in range(count):
        doc = version_doc(model=f"model{i % 40}", version=f"v{i}", tags=["baseline"] if i % 3 == 0 else [])
        doc["metrics"] = {"accuracy": round(rng.random(), 4)} if i % 10 else {}
        doc["params"] = {"max_depth": i % 7}
        docs.append(doc)
    return docs


def test_a_compiled_filter_runs_over_ten_thousand_documents() -> None:
    docs = many_docs(10_000)
    predicate = compile_filter("accuracy>0.9 tag:baseline or max_depth=6 -model:model1*")
    found = [d for d in docs if predicate(d)]

    def expected(d: dict[str, Any]) -> bool:
        accuracy = d["metrics"].get("accuracy")
        first = accuracy is not None and accuracy > 0.9 and "baseline" in d["tags"]
        second = d["params"]["max_depth"] == 6 and not d["model"].startswith("model1")
        return first or second

    assert found == [d for d in docs if expected(d)]
    assert 100 < len(found) < 2_000
    assert docs == many_docs(10_000)  # the predicate never changes a document


def test_predicates_do_not_change_documents() -> None:
    doc = version_doc()
    before = copy.deepcopy(doc)
    for expr in ["accuracy>0.9", "framework=x", "tag:b*", "word", "-notes~x", "params.optimizer.lr=1"]:
        matches(expr, doc)
    assert doc == before


def test_the_syntax_summary_covers_every_form() -> None:
    text = describe_terms()
    assert text == SYNTAX
    for part in ["or", "not", "-tag:", "= == != > >= < <= ~", "metrics.", "params.", "training.", "extra.",
                 "estimator.", "framework", "true", "null", "tag:X", "status:X", "model:X", "data:X",
                 "parent:REF", "WORD", "created_at", "*"]:
        assert part in text, part


def test_every_example_in_the_syntax_summary_compiles() -> None:
    for expr in ["accuracy>0.9 tag:baseline", "-tag:old  not status:archived", 'notes~"learning rate"', "a (b or c)  not (a or b)",
                 "accuracy>0.9  metrics.f1>=0.8  params.max_depth=5  training.epochs>=3  loss<0.3",
                 "extra.dataset=imdb  framework=sklearn  created_at>2026-11-01  version=v3", "model:sent*"]:
        compile_filter(expr)


def test_registry_find_uses_the_filter_on_stored_versions(tmp_path: Path, registry: Any) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    scores = {}
    for depth in (1, 2, 4):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(x_train, y_train)
        path = tmp_path / f"tree{depth}.joblib"
        joblib.dump(tree, path)
        scores[depth] = tree.score(x_test, y_test)
        registry.register(
            "iris", [path], f"v{depth}", metrics={"accuracy": scores[depth]}, params={"max_depth": depth},
            tags=["baseline"] if depth == 1 else ["tuned"], training={"framework": "sklearn", "samples": len(x_train)},
            training_data="sklearn:iris", notes=f"decision tree, depth {depth}",
        )
    good = {f"v{d}" for d, s in scores.items() if s > 0.9}
    assert good and good != {"v1", "v2", "v4"}  # depth 1 is a poor tree on iris
    assert {v.version for v in registry.find("accuracy>0.9")} == good
    assert [v.version for v in registry.find("tag:baseline or max_depth>=4")] == ["v1", "v4"]
    assert [v.version for v in registry.find("-tag:baseline data:iris framework=sklearn")] == ["v2", "v4"]
    assert [v.version for v in registry.find("'depth 2'")] == ["v2"]
    with pytest.raises(FilterError, match="bad filter term 1 'accuracy>>1'"):
        registry.find("accuracy>>1")
