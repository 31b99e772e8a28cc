"""What ``modelreg COMMAND --help`` shows beyond each parser's own: an example per command, and a
line for every argument the parsers leave without one (the positional names repeat across
commands, so they are described once here)."""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("modelreg init ~/projects/sentiment",),
    "register": ("modelreg register sentiment runs/7/model.joblib --metric accuracy=0.93 --parent sentiment:v6",
                 "modelreg register llama-ft checkpoint-500/ --tag lora --data imdb"),
    "list": ("modelreg list",),
    "versions": ("modelreg versions sentiment --last 5",),
    "info": ("modelreg info sentiment:v7", "modelreg info sentiment"),
    "score": ("modelreg score sentiment:v7 accuracy=0.94 f1=0.91",),
    "tag": ("modelreg tag sentiment:v7 baseline reviewed",),
    "untag": ("modelreg untag sentiment:v7 baseline",),
    "status": ("modelreg status", "modelreg status sentiment:v7 deprecated"),
    "model": ("modelreg model sentiment --owner ana --primary-metric f1 --direction loss=min",),
    "remove": ("modelreg remove sentiment:v7",),
    "find": ("modelreg find 'accuracy>0.9 tag:baseline'", "modelreg find --model sentiment --status completed"),
    "best": ("modelreg best sentiment --metric f1", "modelreg best --all"),
    "compare": ("modelreg compare sentiment v6 v7 --markdown",),
    "tree": ("modelreg tree sentiment",),
    "lineage": ("modelreg lineage sentiment:v7",),
    "summary": ("modelreg summary", "modelreg summary sentiment --markdown"),
    "attach": ("modelreg attach sentiment:v7 tokenizer.json",),
    "metrics": ("modelreg metrics sentiment:v7 accuracy",),
    "evaluate": ("modelreg evaluate iris:v3 --data sklearn:iris --metrics accuracy,f1_macro",),
    "report": ("modelreg report sentiment:v7 --markdown > MODEL_CARD.md",),
    "demo": ("modelreg demo /tmp/demo --no-ui",),
    "export": ("modelreg export sentiment:v7 --with-parents sentiment-v7.tar", "modelreg export --all backup.tar"),
    "import": ("modelreg import sentiment-v7.tar --skip-existing",),
    "deploy": ("modelreg deploy sentiment:v7 --env staging",),
    "rollback": ("modelreg rollback sentiment --env production",),
    "history": ("modelreg history sentiment --env production",),
    "check": ("modelreg check sentiment --verify",),
    "follow": ("modelreg follow --env production --dir /srv/models sentiment",),
    "upload": ("modelreg upload sentiment:v7",),
    "artifact-store": ("modelreg artifact-store", "modelreg artifact-store s3://team-models/registry",
                       "modelreg artifact-store --unset"),
    "scan": ("modelreg scan downloads/model.pkl", "modelreg scan sentiment:v7"),
    "load": ("modelreg load iris:v3 --json",),
    "watch": ("modelreg watch runs/ --model sentiment",),
    "doctor": ("modelreg doctor", "modelreg doctor --fix"),
}

# By (command, dest) first, then by dest alone.
ARGUMENT_HELP: dict[tuple[str, str] | str, str] = {
    "ref": "a version: MODEL:VERSION, or MODEL:latest, MODEL:best, MODEL:ENV (what is live there)",
    "model": "a model's name",
    "name": "a model's name",
    "paths": "artifact files or folders (local paths or s3:// URLs)",
    "tags": "tags: any text (quote one with spaces)",
    "pairs": "metrics as NAME=NUMBER",
    "versions": "versions of MODEL to compare, e.g. v6 v7",
    "dir": "the folder (default: here)",
    "dirs": "folders to watch, with their subfolders",
    "file": "a bundle (.tar), an AFS registry.json, or an experiment_history.jsonl",
    "target": "a pickle/joblib/PyTorch/safetensors file or folder, or a version MODEL:VERSION",
    ("status", "ref"): "a version (with no REF: what is live where)",
    ("status", "status"): "the new status: draft, training, completed, deprecated or archived",
    ("metrics", "metric"): "only this metric's history",
    ("best", "model"): "a model's name (or --all)",
    ("summary", "model"): "one model (default: the whole registry)",
    ("history", "model"): "one model (default: every model)",
    ("check", "model"): "one model (default: every model)",
    ("register", "model"): "the model's name (made on its first version)",
    ("register", "metric"): "a metric: NAME=NUMBER (repeatable)",
    ("register", "param"): "a hyperparameter: NAME=VALUE (repeatable)",
    ("register", "tag"): "a tag (repeatable)",
    ("register", "git_commit"): "the commit the model was trained from",
    ("register", "notes"): "free text about this version",
    ("register", "train_framework"): "the training framework, e.g. sklearn, pytorch",
    ("register", "train_base_model"): "the model it was fine-tuned from, e.g. bert-base-uncased",
    ("register", "train_samples"): "how many training samples (0 or more)",
    ("register", "train_epochs"): "how many epochs (0 or more)",
    ("register", "train_batch_size"): "the batch size (0 or more)",
    ("register", "train_learning_rate"): "the learning rate (0 or more)",
    ("register", "train_hardware"): "what it was trained on, e.g. 1xA100",
    ("model", "description"): "a one-line description",
    ("model", "owner"): "who answers for the model",
    ("model", "notes"): "free text about the model",
    ("model", "primary_metric"): "the metric 'best' ranks by",
    ("model", "direction"): "whether a metric is better low or high: METRIC=min or METRIC=max (repeatable)",
    ("find", "model"): "only this model's versions",
    ("find", "tag"): "only versions with this tag",
    ("find", "status"): "only versions with this status",
    ("summary", "markdown"): "Markdown, e.g. for a wiki page or a pull request",
    ("evaluate", "ref"): "the version to evaluate (a scikit-learn estimator)",
    ("rollback", "model"): "the model to roll back",
}


def describe(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` (the command ``name``) its examples and a line for each undescribed argument."""
    examples = EXAMPLES.get(name, ())
    if examples:
        parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if action.help is None and not isinstance(action, argparse._HelpAction):
            action.help = ARGUMENT_HELP.get((name, action.dest)) or ARGUMENT_HELP.get(action.dest)
