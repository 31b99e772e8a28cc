"""``modelreg COMMAND --help``: a line for every argument and an example per command that parses."""

from __future__ import annotations

import argparse
import shlex

import pytest

from tui.cli import build_parser, parse

PARSER = build_parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_describes_each_argument_and_shows_an_example_that_parses(name: str) -> None:
    parser = COMMANDS[name]
    undescribed = [a.dest for a in parser._actions if not a.help]
    assert undescribed == [], f"{name}: {undescribed} have no help line"
    text = parser.format_help()
    examples = [line.strip() for line in text.split("examples:\n", 1)[-1].splitlines() if line.strip()]
    assert "examples:" in text and examples and all(e.startswith(f"modelreg {name}") for e in examples)
    for example in examples:
        words = shlex.split(example.split(" > ")[0])[1:]
        args = parse(build_parser(), words)  # a usage mistake would exit with code 2
        assert args.command == name


def test_the_top_level_options_are_all_described() -> None:
    assert [a.dest for a in PARSER._actions if not a.help and not isinstance(a, argparse._SubParsersAction)] == []


def test_words_after_options_still_belong_to_the_commands_list() -> None:
    args = parse(build_parser(), ["export", "m:v2", "--with-parents", "out.tar"])
    assert args.items == ["m:v2", "out.tar"] and args.with_parents
    args = parse(build_parser(), ["register", "m", "a.pt", "--metric", "acc=1", "b.pt"])
    assert args.paths == ["a.pt", "b.pt"] and args.metric == ["acc=1"]
    for words in (["info", "m:v1", "--json", "extra"], ["tag", "m:v1", "x", "--json", "--bogus"]):
        with pytest.raises(SystemExit) as refused:  # one line, as any usage mistake
            parse(build_parser(), words)
        assert refused.value.code == 2
