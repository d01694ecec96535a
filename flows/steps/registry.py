"""The table of step handlers: what a typed answer means at each step.

Handlers register themselves by step name with ``@handles``; the driver
looks the current step up here, so a step's handler is found by reading the
table, not by building a method name.
"""

from __future__ import annotations

from collections.abc import Callable

from flows.prompts import prompt
from flows.run import Run

# (the message's model, the cleaned text, the command the text names, if any)
Handler = Callable[[Run, str, str | None], None]

HANDLERS: dict[str, Handler] = {}


def handles(*steps: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``steps``."""

    def register(handler: Handler) -> Handler:
        taken = [step for step in steps if step in HANDLERS]
        if taken:  # two handlers for one step: the table would keep the last silently
            raise ValueError(f"step {taken[0]!r} already has a handler")
        HANDLERS.update(dict.fromkeys(steps, handler))
        return handler

    return register


def answer(run: Run, text: str, command: str | None) -> None:
    """Read ``text`` as the answer to the current step; a step with no
    handler only repeats its question."""
    handler = HANDLERS.get(run.step)
    if handler is None:
        prompt(run)
        return
    handler(run, text, command)
