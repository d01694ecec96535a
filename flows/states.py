"""The dialogue's state names and the plan of steps for each request type.

States are ``start``, ``menu``, ``status``, ``staff``, ``resume``,
``proof_for`` and a few more shared by every request, and, for every
request type, ``<type>.<step>``. Code outside ``flows/`` may ask the
questions answered here (is this a draft, does it ask for a code, which
files does it keep) but should not build state names itself.
"""

from __future__ import annotations

from typing import Any

from flows.types import RequestType

START, MENU, STATUS, STAFF, RESUME, PROOF_FOR = (
    "start",
    "menu",
    "status",
    "staff",
    "resume",
    "proof_for",
)
STATUS_EMAIL, STATUS_CODE = "status_email", "status_code"
CANCEL_CONFIRM = "cancel_confirm"
INFO = "info"  # staff asked for more about a request: messages and files go to it
GLOBAL_STATES = (
    INFO,
    START,
    MENU,
    STATUS,
    STAFF,
    RESUME,
    PROOF_FOR,
    STATUS_EMAIL,
    STATUS_CODE,
    CANCEL_CONFIRM,
)

# The steps of each request type, in order. Sub-steps are asked only when the
# answer to their parent needs more words.
STEPS: dict[RequestType, tuple[str, ...]] = {
    RequestType.DELETION: (
        "consequences",
        "full_name",
        "email",
        "email_code",
        "reason",
        "id_proof",
        "summary",
    ),
    RequestType.ACCESS: ("full_name", "email", "email_code", "reason", "id_proof", "summary"),
    RequestType.CORRECTION: (
        "full_name",
        "email",
        "email_code",
        "correction_field",
        "correction_value",
        "id_proof",
        "summary",
    ),
    RequestType.RESTRICTION: (
        "full_name",
        "email",
        "email_code",
        "restriction_scope",
        "reason",
        "id_proof",
        "summary",
    ),
}
SUBSTEPS: dict[RequestType, dict[str, tuple[str, str]]] = {
    # parent step -> (sub-step, condition on the model)
    RequestType.DELETION: {"reason": ("reason_other", "needs_reason_text")},
    RequestType.RESTRICTION: {"restriction_scope": ("restriction_other", "needs_scope_text")},
}
NOT_EDITABLE = {"consequences", "summary", "email_code"}
# A new email is always proved by its code, even when edited from the summary;
# and going back from the code step means changing the email.
NO_SHORTCUT_NEXT = {"email"}
NO_SHORTCUT_BACK = {"email_code"}


def state_name(rtype: RequestType, step: str) -> str:
    return f"{rtype.value}.{step}"


def split_state(state: str) -> tuple[RequestType | None, str]:
    if "." in state:
        kind, step = state.split(".", 1)
        return RequestType(kind), step
    return None, state


def is_draft(state: str) -> bool:
    return "." in state


def asks_code(state: str) -> bool:
    """States whose answer may be an email code, which must never be kept in clear."""
    return state == STATUS_CODE or state.rpartition(".")[2] == "email_code"


def holds_draft(state: str) -> bool:
    """States whose slots keep a customer's unfinished request or its file."""
    return is_draft(state) or state in (PROOF_FOR, RESUME)


def draft_files(slots: dict[str, Any]) -> tuple[str, ...]:
    """Tokens of the files an unfinished request keeps."""
    tokens = []
    if slots.get("id_proof"):
        tokens.append(slots["id_proof"]["token"])
    if slots.get("proof_token"):
        tokens.append(slots["proof_token"])
    return tuple(tokens)


def editable(rtype: RequestType) -> tuple[str, ...]:
    """The steps of ``rtype`` a customer may go back to from the summary."""
    return tuple(s for s in STEPS[rtype] if s not in NOT_EDITABLE)
