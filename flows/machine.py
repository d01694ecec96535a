"""The ``transitions`` machine: every legal move between the dialogue's states.

It holds the step order of each request type, with conditions for optional
sub-steps and for returning to the summary while editing. It is built once,
at import, with no models attached; each message gets a throw-away model
object (``flows.run.Run``) that the machine's events act on, because
attaching and detaching models per message costs ten times as much.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine, MachineError

from flows.states import (
    CANCEL_CONFIRM,
    GLOBAL_STATES,
    INFO,
    MENU,
    NO_SHORTCUT_BACK,
    NO_SHORTCUT_NEXT,
    PROOF_FOR,
    RESUME,
    STAFF,
    START,
    STATUS,
    STATUS_CODE,
    STATUS_EMAIL,
    STEPS,
    SUBSTEPS,
    editable,
    state_name,
)
from flows.types import RequestType


def build_machine() -> Machine:
    states: list[str] = list(GLOBAL_STATES)
    machine_transitions: list[dict[str, Any]] = []

    def add(trigger: str, source: str | list[str], dest: str, **kw: Any) -> None:
        machine_transitions.append({"trigger": trigger, "source": source, "dest": dest, **kw})

    draft_states: list[str] = []
    for rtype, steps in STEPS.items():
        names = [state_name(rtype, s) for s in steps]
        subs = SUBSTEPS.get(rtype, {})
        all_names = names + [state_name(rtype, sub) for sub, _ in subs.values()]
        all_names.append(state_name(rtype, "edit"))
        states.extend(all_names)
        draft_states.extend(all_names)
        summary = state_name(rtype, "summary")

        add(f"start_{rtype.value}", [START, MENU], names[0])
        for i, step in enumerate(steps[:-1]):
            here, following = names[i], names[i + 1]
            if step in subs:
                sub, condition = subs[step]
                sub_state = state_name(rtype, sub)
                add("next", here, sub_state, conditions=[condition])
                add("next", sub_state, summary, conditions=["editing"])
                add("next", sub_state, following)
                add("back", sub_state, here)
            if step not in NO_SHORTCUT_NEXT:
                add("next", here, summary, conditions=["editing"])
            add("next", here, following)
            if step not in NO_SHORTCUT_BACK:
                add("back", here, summary, conditions=["editing"])
            if i > 0:
                add("back", here, names[i - 1])
        add("back", summary, names[-2])
        add("edit", summary, state_name(rtype, "edit"))
        add("back", state_name(rtype, "edit"), summary)
        for step in editable(rtype):
            add(f"edit_{step}", state_name(rtype, "edit"), state_name(rtype, step))
        add("file", summary, MENU)
        if rtype is RequestType.DELETION:
            add("copy_first", names[0], state_name(RequestType.ACCESS, "full_name"))

    add(
        "cancel",
        [
            *draft_states,
            STATUS,
            STATUS_EMAIL,
            STATUS_CODE,
            CANCEL_CONFIRM,
            PROOF_FOR,
            RESUME,
            STAFF,
        ],
        MENU,
    )
    add("ask_status", [START, MENU], STATUS)
    add("verify_status", [START, MENU, STATUS], STATUS_EMAIL)
    add("next", STATUS_EMAIL, STATUS_CODE)
    add("back", STATUS_CODE, STATUS_EMAIL)
    add("done", [START, MENU, STATUS, PROOF_FOR, STATUS_EMAIL, STATUS_CODE, CANCEL_CONFIRM], MENU)
    add("confirm_cancel", [START, MENU], CANCEL_CONFIRM)
    add("done", INFO, MENU)
    add("choose_proof", [START, MENU], PROOF_FOR)
    add("escalate", [s for s in states if s != STAFF], STAFF)
    add("pause", [*draft_states, PROOF_FOR], RESUME)
    add("reset", states, MENU)
    return Machine(
        model=None,
        states=states,
        transitions=machine_transitions,
        initial=START,
        auto_transitions=False,
        send_event=False,
    )


MACHINE = build_machine()
# Every state a conversation may be in; anything else (an older release's
# state, a damaged row) is started afresh.
STATES: frozenset[str] = frozenset(MACHINE.states)


def fire(model: Any, trigger: str) -> bool:
    """Apply one of the machine's events to this message's model; False when
    the move is not legal from its state (the model is then unchanged)."""
    try:
        return bool(MACHINE.events[trigger].trigger(model))
    except (KeyError, MachineError):
        return False


def jump(model: Any, state: str) -> None:
    """Put the model in ``state`` directly, e.g. back where it was before a pause."""
    MACHINE.set_state(state, model=model)
