"""Version statuses and the transitions allowed between them."""

from __future__ import annotations

from store.errors import BadTransition

STATUSES = ("draft", "training", "completed", "deployed", "deprecated", "archived")

# "deployed" is reached only through a deploy, which also switches the live link.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"training", "completed", "archived"}),
    "training": frozenset({"draft", "completed", "deprecated", "archived"}),
    "completed": frozenset({"training", "deployed", "deprecated", "archived"}),
    "deployed": frozenset({"completed", "deprecated"}),
    "deprecated": frozenset({"completed", "deployed", "archived"}),
    "archived": frozenset({"completed"}),
}

DEPLOYABLE = frozenset({"training", "completed", "deployed", "deprecated"})


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise BadTransition(f"unknown status '{status}': use one of {', '.join(STATUSES)}")
    return status


def check_transition(ref: str, current: str, target: str) -> None:
    """Refuse a transition the lifecycle does not allow, saying which are allowed."""
    check_status(target)
    if current == target:
        return
    allowed = TRANSITIONS.get(current, frozenset())
    if target not in allowed:
        choices = ", ".join(s for s in STATUSES if s in allowed) or "none"
        raise BadTransition(f"{ref} cannot go from {current} to {target}; from {current} it can go to: {choices}")
