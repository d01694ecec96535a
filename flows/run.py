"""The per-message model the machine acts on, and what one message produced."""

from __future__ import annotations

from typing import Any

from flows.states import split_state
from flows.types import Button, Context, Effect, OfferUpload, Reply, RequestType, Snapshot
from flows.vocabulary import Vocabulary


def _copied(value: Any) -> Any:
    """A deep copy of slot values (what JSON holds, and tuples): a tenth of
    ``copy.deepcopy``'s cost, paid on every message."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_copied(item) for item in value)
    return value  # str, int, float, bool, None: immutable


class Run:
    """One message's work: copies of the conversation (never the snapshot
    itself, so a caller's snapshot stays as it was), the replies and the
    effects. The machine's conditions are its methods."""

    def __init__(self, snapshot: Snapshot, ctx: Context, vocabulary: Vocabulary) -> None:
        self.state = snapshot.state
        self.slots: dict[str, Any] = _copied(snapshot.slots)
        self.language = snapshot.language
        self.failures = snapshot.failures
        self.unplaced_before = 0  # messages in a row the bot could not place, before this one
        self.ctx = ctx
        self.vocabulary = vocabulary
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []

    # conditions used by the machine
    def editing(self) -> bool:
        return bool(self.slots.get("_editing"))

    def needs_reason_text(self) -> bool:
        return self.slots.get("reason_code") == "other" and not self.slots.get("reason")

    def needs_scope_text(self) -> bool:
        return "other" in self.slots.get("restriction_scope", ()) and not self.slots.get(
            "restriction_other"
        )

    def say(self, key: str, **params: Any) -> None:
        self.replies.append(Reply(key, params))

    def ask(self, key: str, buttons: tuple[Button, ...], **params: Any) -> None:
        self.replies.append(Reply(key, params, buttons))

    def ask_for_file(self, key: str, buttons: tuple[Button, ...] = (), **params: Any) -> None:
        self.replies.append(Reply(key, params, buttons, asks_for_file=True))
        if OfferUpload() not in self.effects:
            self.effects.append(OfferUpload())

    def effect(self, effect: Effect) -> None:
        self.effects.append(effect)

    @property
    def rtype(self) -> RequestType | None:
        return split_state(self.state)[0]

    @property
    def step(self) -> str:
        return split_state(self.state)[1]
