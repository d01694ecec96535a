"""The pure dialogue: no database, no channel; microseconds per step."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.infra.catalogue import Catalogue
from flows.dialogue import (
    GLOBAL_STATES,
    STEPS,
    Dialogue,
    await_info,
    expire_draft,
    release_to_bot,
    split_state,
)
from flows.steps import HANDLERS, handles
from flows.steps.menu import on_menu
from flows.types import (
    OPEN_STATUSES,
    AttachmentInfo,
    AttachProof,
    CodeAttempt,
    CodeState,
    Context,
    DiscardAttachments,
    Escalate,
    FileRequest,
    Inbound,
    KeepAttachment,
    KnownRequest,
    OfferUpload,
    Outcome,
    ProvideInfo,
    RequestStatus,
    RequestType,
    SendCode,
    Snapshot,
)

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
GOOD = "123456"  # the code the engine would confirm
DUE = date(2027, 1, 12)


def ctx(now: datetime = NOW, requests: tuple[KnownRequest, ...] = ()) -> Context:
    return Context(now=now, new_reference_suffix="7K3M9Q", due_date=DUE, requests=requests)


def good_file(token: str = "a" * 32) -> AttachmentInfo:
    return AttachmentInfo(token, 1234, "image/jpeg", "f" * 64)


class Driver:
    def __init__(self, dialogue: Dialogue, state: str = "start", language: str = "id") -> None:
        self.dialogue = dialogue
        self.snapshot = Snapshot(state=state, slots={}, language=language)
        self.outcome: Outcome | None = None
        self.effects: list = []

    def say(
        self,
        text: str = "",
        *files: AttachmentInfo,
        context: Context | None = None,
        oversized: bool = False,
    ) -> Outcome:
        c = context or ctx()
        if self.state.endswith("email_code") or self.state == "status_code":
            # What the engine would tell: a code is pending; is this text it?
            purpose = (
                "request"
                if self.state.endswith("email_code")
                else f"status:{self.snapshot.slots.get('status_ref')}"
            )
            code = CodeState(
                purpose=purpose,
                expires_at=c.now + timedelta(minutes=10),
                attempts_left=5,
                resends_left=3,
                next_resend_at=c.now,
                locked_until=None,
                typed_ok=text.strip() == GOOD,
            )
            c = replace(c, code=code)
        out = self.dialogue.step(self.snapshot, Inbound(text, tuple(files), oversized), c)
        self.outcome = out
        self.effects.extend(out.effects)
        self.snapshot = Snapshot(out.state, out.slots, out.language, out.failures, c.now)
        return out

    @property
    def state(self) -> str:
        return self.snapshot.state

    @property
    def keys(self) -> list[str]:
        assert self.outcome
        return [r.key for r in self.outcome.replies]


@pytest.fixture
def d(dialogue: Dialogue) -> Driver:
    return Driver(dialogue)


def test_deletion_happy_path(d: Driver) -> None:
    d.say("halo")
    assert d.state == "menu" and d.keys == ["menu.welcome"]
    d.say("1")
    assert d.state == "deletion.consequences"
    d.say("ya")
    assert d.state == "deletion.full_name"
    d.say("Budi Santoso")
    d.say("budi@example.com")
    assert d.state == "deletion.email_code"
    assert SendCode("request", "budi@example.com") in d.effects
    d.say(GOOD)
    assert d.state == "deletion.reason"
    d.say("4")
    assert d.state == "deletion.id_proof"
    d.say("", good_file())
    assert d.state == "deletion.summary"
    assert d.keys == ["proof.received", "summary"]
    d.say("1")
    assert d.state == "menu"
    filed = [e for e in d.effects if isinstance(e, FileRequest)]
    assert len(filed) == 1
    assert filed[0].reference == "DEL-7K3M9Q"
    assert filed[0].fields == {
        "full_name": "Budi Santoso",
        "email": "budi@example.com",
        "reason_code": "business_closed",
    }
    assert filed[0].id_proof_token == "a" * 32
    assert any(isinstance(e, KeepAttachment) for e in d.effects)
    assert d.keys == ["filed.ack", "filed.proof_received"]
    assert d.snapshot.slots == {}


@pytest.mark.parametrize(
    ("opening", "rtype"),
    [
        ("hapus akun", "deletion"),
        ("delete my account", "deletion"),
        ("salinan data", "access"),
        ("I want a copy of my data", "access"),
        ("koreksi", "correction"),
        ("update my data", "correction"),
        ("batasi pemrosesan", "restriction"),
        ("restrict processing", "restriction"),
        ("2", "access"),
        ("3", "correction"),
        ("4", "restriction"),
    ],
)
def test_menu_understands_numbers_and_words_in_both_languages(
    d: Driver, opening: str, rtype: str
) -> None:
    d.say(opening)
    assert d.state == f"{rtype}.{STEPS[RequestType(rtype)][0]}"


def test_menu_words_for_status_and_staff(d: Driver) -> None:
    d.say("cek status")
    assert d.state == "status"
    d.say("batal")
    d.say("talk to staff")
    assert d.state == "staff"
    assert any(isinstance(e, Escalate) for e in d.effects)


def test_ambiguous_menu_words_are_asked_again(d: Driver) -> None:
    d.say("halo")
    d.say("hapus atau salinan?")
    assert d.state == "menu" and d.keys == ["menu.unclear", "menu.prompt"]


def test_access_reason_is_optional(d: Driver) -> None:
    for line in ("2", "Siti Aminah", "siti@example.com", GOOD, "lewati", "nanti"):
        d.say(line)
    assert d.state == "access.summary"
    d.say("kirim")
    (filed,) = [e for e in d.effects if isinstance(e, FileRequest)]
    assert filed.reference == "ACC-7K3M9Q"
    assert "reason" not in filed.fields
    assert filed.id_proof_token is None
    assert d.keys == ["filed.ack", "filed.proof_later"]


def test_correction_collects_field_and_value(d: Driver) -> None:
    for line in (
        "3",
        "Budi",
        "budi@example.com",
        GOOD,
        "nomor hp saya salah",
        "0812-3456-7890",
        "nanti",
        "1",
    ):
        d.say(line)
    (filed,) = [e for e in d.effects if isinstance(e, FileRequest)]
    assert filed.fields["correction_field"] == "phone"
    assert filed.fields["correction_note"] == "nomor hp saya salah"
    assert filed.fields["correction_value"] == "0812-3456-7890"


def test_restriction_with_several_scopes_and_other(d: Driver) -> None:
    for line in ("4", "Budi", "budi@example.com", GOOD, "1, 5"):
        d.say(line)
    assert d.state == "restriction.restriction_other"
    d.say("Survei lewat telepon")
    assert d.state == "restriction.reason"
    d.say("Saya tidak mau dihubungi")
    d.say("", good_file())
    d.say("1")
    (filed,) = [e for e in d.effects if isinstance(e, FileRequest)]
    assert filed.reference == "RES-7K3M9Q"
    assert filed.fields["restriction_scope"] == ["promotions", "other"]
    assert filed.fields["restriction_other"] == "Survei lewat telepon"


def test_deletion_reason_other_asks_for_words(d: Driver) -> None:
    for line in ("1", "1", "Budi", "budi@example.com", GOOD, "5"):
        d.say(line)
    assert d.state == "deletion.reason_other"
    d.say("Terlalu mahal")
    assert d.state == "deletion.id_proof"


def test_deletion_free_text_reason(d: Driver) -> None:
    for line in ("1", "1", "Budi", "budi@example.com", GOOD, "Saya pindah ke kota lain"):
        d.say(line)
    assert d.state == "deletion.id_proof"
    assert d.snapshot.slots["reason"] == "Saya pindah ke kota lain"
    assert d.snapshot.slots["reason_code"] == "other"


def test_copy_first_switches_to_access(d: Driver) -> None:
    d.say("1")
    d.say("2")
    assert d.state == "access.full_name"


def test_back_walks_the_steps_and_leaves_from_the_first(d: Driver) -> None:
    for line in ("1", "1", "Budi", "budi@example.com", GOOD):
        d.say(line)
    assert d.state == "deletion.reason"
    d.say("kembali")
    assert d.state == "deletion.email_code"
    d.say("kembali")  # from the code step: change the email
    assert d.state == "deletion.email"
    d.say("back")
    assert d.state == "deletion.full_name"
    d.say("kembali")
    assert d.state == "deletion.consequences"
    d.say("kembali")
    assert d.state == "menu"
    assert d.keys == ["cancel.done", "menu.prompt"]


def test_edit_a_field_from_the_summary_returns_to_the_summary(d: Driver) -> None:
    for line in ("2", "Budi", "budi@example.com", GOOD, "lewati", "nanti"):
        d.say(line)
    assert d.state == "access.summary"
    d.say("2")
    assert d.state == "access.edit"
    d.say("email")
    assert d.state == "access.email"
    d.say("budi.baru@example.com")
    assert d.state == "access.email_code"  # a new email is always proved
    d.say(GOOD)
    assert d.state == "access.summary"
    assert d.snapshot.slots["email"] == "budi.baru@example.com"
    assert "_editing" not in d.snapshot.slots
    d.say("2")
    d.say("1")  # name
    d.say("kembali")  # back while editing goes to the summary
    assert d.state == "access.summary"


def test_replacing_the_id_proof_discards_the_old_file(d: Driver) -> None:
    for line in ("2", "Budi", "budi@example.com", GOOD, "lewati"):
        d.say(line)
    d.say("", good_file("a" * 32))
    d.say("ubah")
    d.say("4")
    assert d.state == "access.id_proof"
    d.say("", good_file("b" * 32))
    assert d.state == "access.summary"
    assert DiscardAttachments(("a" * 32,)) in d.effects
    assert d.snapshot.slots["id_proof"]["token"] == "b" * 32


def test_cancel_discards_the_draft_and_its_file(d: Driver) -> None:
    for line in ("2", "Budi", "budi@example.com", GOOD, "lewati"):
        d.say(line)
    d.say("", good_file())
    d.say("batal")
    assert d.state == "menu" and d.snapshot.slots == {}
    assert DiscardAttachments(("a" * 32,)) in d.effects
    assert d.keys == ["cancel.done", "menu.prompt"]


def test_language_switch_at_any_step_reprompts(d: Driver) -> None:
    d.say("1")
    d.say("1")
    d.say("EN")
    assert d.snapshot.language == "en" and d.state == "deletion.full_name"
    assert d.keys == ["lang.switched", "prompt.full_name"]
    d.say("/id")
    assert d.snapshot.language == "id"


def test_help_explains_the_step(d: Driver) -> None:
    d.say("1")
    d.say("1")
    d.say("bantuan")
    assert d.keys == ["help.full_name", "help.commands"]
    assert d.state == "deletion.full_name"


def test_three_failed_answers_hand_the_chat_to_a_person(d: Driver) -> None:
    d.say("2")
    d.say("1")
    assert d.keys == ["hint.name_short"]
    d.say("123")
    assert d.keys == ["hint.name_chars"]
    d.say("😀😀")
    assert d.keys == ["hint.name_chars", "staff.handover"]
    assert d.state == "staff" and d.snapshot.failures == 0
    assert Escalate("failed_answers") in d.outcome.effects
    d.say("menu")  # the customer may go back to the bot: at the step they were on
    assert d.state == "access.full_name"
    d.say("Budi")
    assert d.state == "access.email"


def test_two_unplaceable_messages_in_a_row_hand_over(d: Driver) -> None:
    d.say("halo")
    d.say("apa kabar semuanya")
    assert d.keys == ["menu.unclear", "menu.prompt"] and d.state == "menu"
    d.say("hapus atau salinan?")
    assert d.keys == ["staff.handover"] and d.state == "staff"
    assert Escalate("unplaced") in d.outcome.effects


def test_a_placed_message_resets_the_unplaceable_count(d: Driver) -> None:
    d.say("halo")
    d.say("apa kabar semuanya")
    d.say("5")  # status: placed
    d.say("menu")
    d.say("xyz xyz")
    assert d.keys == ["menu.unclear", "menu.prompt"] and d.state == "menu"
    d.say("", good_file())  # a file nobody asked for is not placed either
    assert d.keys == ["file.ignored", "staff.handover"] and d.state == "staff"


def test_outside_support_hours_the_customer_is_told_when(d: Driver) -> None:
    opens = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB
    d.say("halo")
    out = d.say("staf", context=replace(ctx(), staff_opens_at=opens))
    assert [r.key for r in out.replies] == ["staff.waiting", "staff.after_hours"]
    assert out.replies[1].params == {"opens": opens}
    d.say("menu")
    out = d.say("6")
    assert [r.key for r in out.replies] == ["staff.waiting"]  # within hours: no time given


def test_code_steps_only_offer_staff_they_have_their_own_limit(d: Driver) -> None:
    for line in ("2", "Budi", "budi@example.com"):
        d.say(line)
    for _ in range(3):
        d.say("12")
    assert d.keys == ["hint.code_format", "hint.offer_staff"]
    assert d.state == "access.email_code"


def test_escalation_keeps_the_draft_and_returns_to_it(d: Driver) -> None:
    for line in ("2", "Budi"):
        d.say(line)
    d.say("staf")
    assert d.state == "staff" and d.keys == ["staff.waiting"]
    d.say("halo, ada orang?")
    assert d.keys == ["staff.still_waiting"]
    d.say("menu")
    assert d.state == "access.email"
    assert d.keys == ["staff.back_to_bot", "prompt.email"]
    assert d.snapshot.slots["full_name"] == "Budi"


def test_oversized_and_empty_messages(d: Driver) -> None:
    d.say("2")
    d.say("", oversized=True)
    assert d.keys == ["hint.too_long"] and d.state == "access.full_name"
    d.say("")
    assert d.keys == ["hint.empty", "prompt.full_name"]


def test_bad_files_get_their_own_hint(d: Driver) -> None:
    for line in ("2", "Budi", "budi@example.com", GOOD, "lewati"):
        d.say(line)
    d.say("", AttachmentInfo("c" * 32, 11 * 2**20, None, None, "too_large"))
    assert d.keys == ["hint.file_too_large"] and d.state == "access.id_proof"
    d.say("", AttachmentInfo("c" * 32, 10, None, None, "unsupported_type"))
    assert d.keys == ["hint.file_unsupported_type"]
    d.say("", AttachmentInfo("c" * 32, 0, None, None, "empty"))
    assert d.keys == ["hint.file_empty", "staff.handover"]
    assert d.state == "staff"


def test_file_at_another_step_is_acknowledged_and_not_kept(d: Driver) -> None:
    d.say("2")
    d.say("", good_file())
    assert d.keys == ["file.ignored", "prompt.full_name"]
    assert not d.effects


def test_status_only_for_requests_of_this_address(d: Driver) -> None:
    mine = KnownRequest("DEL-AAAAAA", RequestType.DELETION, "verifying", DUE)
    context = ctx(requests=(mine,))
    d.say("5", context=context)
    d.say("del-aaaaaa", context=context)
    assert d.keys == ["status.answer"] and d.state == "menu"
    d.say("DEL-BBBBBB", context=context)  # typed straight into the menu
    # Not from this address: prove the request's email first (same for unknown ones).
    assert d.keys == ["prompt.status_email"] and d.state == "status_email"
    d.say("pemilik@example.com", context=context)
    assert SendCode("status:DEL-BBBBBB", "pemilik@example.com") in d.effects
    assert d.state == "status_code"
    other = KnownRequest("DEL-BBBBBB", RequestType.DELETION, "in_progress", DUE)
    d.say(GOOD, context=replace(context, verified_request=other))
    assert d.keys == ["status.answer"] and d.state == "menu"


@pytest.mark.parametrize(
    "message",
    [
        "status DEL-AAAAAA",
        "status del-aaaaaa",
        "cek status DEL AAAAAA",
        "Cek statusnya del_aaaaaa dong",
        "what is the status of DEL-AAAAAA?",
        "/status DEL-AAAAAA",
        "track del-aaaaaa",
        "status DELAAAAAA",
    ],
)
def test_status_with_its_reference_in_one_message_answers_at_once(d: Driver, message: str) -> None:
    mine = KnownRequest("DEL-AAAAAA", RequestType.DELETION, "verifying", DUE)
    alone = Driver(d.dialogue)
    alone.say("DEL-AAAAAA", context=ctx(requests=(mine,)))
    d.say(message, context=ctx(requests=(mine,)))
    assert d.keys == ["status.answer"] and d.outcome == alone.outcome
    assert d.outcome and d.outcome.replies[0].params["reference"] == "DEL-AAAAAA"


@pytest.mark.parametrize(
    "message",
    ["status COR-BBBBBB", "cek status acc-bbbbbb", "what is the status of RES-BBBBBB"],
)
def test_status_with_a_reference_of_another_address_asks_for_its_email(
    d: Driver, message: str
) -> None:
    """The same privacy rule as the reference alone: nothing about a request
    this address did not file, not even whether it exists."""
    mine = KnownRequest("DEL-AAAAAA", RequestType.DELETION, "verifying", DUE)
    d.say(message, context=ctx(requests=(mine,)))
    assert d.keys == ["prompt.status_email"] and d.state == "status_email"
    assert d.snapshot.slots["status_ref"] == message.split()[-1].upper()


def test_a_reference_inside_a_message_is_found_only_when_it_is_one(d: Driver) -> None:
    from flows.validators import find_reference

    assert find_reference("status DEL-7K3M9Q") == "DEL-7K3M9Q"
    assert find_reference("cek status acc 7k3m9q ya") == "ACC-7K3M9Q"
    assert find_reference("status del7k3m9q") == "DEL-7K3M9Q"
    assert find_reference("status corporate") is None  # a word, not a reference
    assert find_reference("status restriction") is None
    assert find_reference("status DEL-7K3M9Q atau ACC-7K3M9Q") is None  # which one?
    assert find_reference("status DEL-7K3M9Q, DEL-7K3M9Q") == "DEL-7K3M9Q"
    # Without a word of status the reference in a longer message is not a question.
    d.say("hapus akun DEL-AAAAAA")
    assert d.state == "deletion.consequences"
    # Asked for a reference, a sentence that holds one is enough.
    d.say("batal")
    d.say("5")
    d.say("nomornya DEL-BBBBBB")
    assert d.state == "status_email"


def test_late_id_proof_goes_to_the_waiting_request(d: Driver) -> None:
    waiting = KnownRequest("ACC-AAAAAA", RequestType.ACCESS, "awaiting_id_proof", DUE)
    d.say("", good_file(), context=ctx(requests=(waiting,)))
    assert AttachProof("ACC-AAAAAA", "a" * 32) in d.effects
    assert d.keys == ["proof.attached_to"]


def test_late_id_proof_with_several_waiting_requests_asks_which(d: Driver) -> None:
    waiting = (
        KnownRequest("ACC-AAAAAA", RequestType.ACCESS, "awaiting_id_proof", DUE),
        KnownRequest("DEL-BBBBBB", RequestType.DELETION, "awaiting_id_proof", DUE),
    )
    d.say("", good_file(), context=ctx(requests=waiting))
    assert d.state == "proof_for"
    assert KeepAttachment("a" * 32) in d.effects
    d.say("2", context=ctx(requests=waiting))
    assert AttachProof("DEL-BBBBBB", "a" * 32) in d.effects
    assert d.state == "menu"


def test_idle_draft_is_offered_to_resume(d: Driver) -> None:
    for line in ("2", "Budi"):
        d.say(line)
    later = NOW + timedelta(hours=25)
    d.say("budi@example.com", context=ctx(now=later))
    assert d.state == "resume" and d.keys == ["prompt.resume"]
    d.say("1", context=ctx(now=later))
    assert d.state == "access.email"
    d.say("budi@example.com", context=ctx(now=later))
    assert d.state == "access.email_code"


def test_idle_draft_restart(d: Driver) -> None:
    d.say("2")
    later = NOW + timedelta(hours=30)
    d.say("Budi", context=ctx(now=later))
    d.say("2", context=ctx(now=later))
    assert d.state == "menu" and d.snapshot.slots == {}
    assert d.keys == ["draft.restarted", "menu.prompt"]


def test_week_old_draft_is_discarded(d: Driver) -> None:
    for line in ("2", "Budi", "budi@example.com", GOOD, "lewati"):
        d.say(line)
    d.say("", good_file())
    later = NOW + timedelta(days=8)
    d.say("hapus akun", context=ctx(now=later))
    assert DiscardAttachments(("a" * 32,)) in d.effects
    assert d.keys[0] == "draft.expired"
    assert d.state == "deletion.consequences"


def test_unknown_persisted_state_recovers(dialogue: Dialogue) -> None:
    out = dialogue.step(Snapshot("gone.step", {"x": 1}, "id"), Inbound("halo"), ctx())
    assert out.state == "menu" and out.slots == {}
    assert [r.key for r in out.replies] == ["error.state_reset", "menu.prompt"]


def test_every_state_has_a_prompt_and_help_in_both_languages(
    dialogue: Dialogue, catalogue: Catalogue
) -> None:
    for state in dialogue.states:
        slots = {"_return": "access.email"} if state == "resume" else {}
        for language in ("id", "en"):
            replies = dialogue.prompt(Snapshot(state, slots, language), ctx())
            assert replies, state
            for reply in replies:
                assert catalogue.render(language, reply)
            step = split_state(state)[1]
            assert catalogue.text(language, f"help.{step}")
    assert set(GLOBAL_STATES) <= dialogue.states


def test_every_step_has_exactly_one_handler_in_the_table(dialogue: Dialogue) -> None:
    steps = {split_state(state)[1] for state in dialogue.states}
    assert set(HANDLERS) == steps
    assert HANDLERS["start"] is HANDLERS["menu"] is on_menu
    before = dict(HANDLERS)
    with pytest.raises(ValueError, match="'summary' already has a handler"):
        handles("new_step", "summary")(on_menu)
    assert before == HANDLERS  # a refused registration leaves the table as it was


def test_the_machine_is_built_once_and_a_step_takes_microseconds(d: Driver) -> None:
    from bot.app import shared_dialogue

    assert shared_dialogue() is shared_dialogue()
    d.say("2")
    snapshot = d.snapshot
    c = ctx()
    start = time.perf_counter()
    for _ in range(1000):
        d.dialogue.step(snapshot, Inbound("Budi Santoso"), c)
    per_step = (time.perf_counter() - start) / 1000
    assert per_step < 500e-6, f"{per_step * 1e6:.0f} µs per step"


def test_status_command_never_becomes_an_answer(d: Driver) -> None:
    for line in ("1", "1", "Budi", "budi@example.com", GOOD):
        d.say(line)
    d.say("/status")
    assert d.state == "deletion.reason"
    assert d.keys == ["menu.in_draft", "prompt.reason.deletion"]
    d.say("batal")
    d.say("/status")
    assert d.state == "status" and d.keys == ["prompt.status"]


def test_stale_button_gets_the_current_question(dialogue: Dialogue) -> None:
    snapshot = Snapshot("access.email", {"type": "access", "full_name": "Budi"}, "id")
    out = dialogue.step(snapshot, Inbound("1", expected_state="menu"), ctx())
    assert out.state == "access.email"
    assert [r.key for r in out.replies] == ["button.stale", "prompt.email"]


def test_menus_offer_buttons_that_send_their_number(dialogue: Dialogue) -> None:
    (reply,) = dialogue.prompt(Snapshot("menu", {}, "id"), ctx())
    assert [b.value for b in reply.buttons] == ["1", "2", "3", "4", "5", "6"]
    replies = dialogue.prompt(Snapshot("access.id_proof", {"type": "access"}, "id"), ctx())
    assert [b.value for r in replies for b in r.buttons] == ["nanti"]


def _code(**changes: object) -> CodeState:
    base = CodeState(
        purpose="request",
        expires_at=NOW + timedelta(minutes=10),
        attempts_left=5,
        resends_left=3,
        next_resend_at=NOW,
        locked_until=None,
        typed_ok=False,
    )
    return replace(base, **changes)


def _at_code_step(dialogue: Dialogue) -> Snapshot:
    slots = {"type": "access", "full_name": "Budi", "email": "budi@example.com"}
    return Snapshot("access.email_code", slots, "id")


def test_wrong_codes_count_down_then_lock_and_offer_staff(dialogue: Dialogue) -> None:
    snap = _at_code_step(dialogue)
    out = dialogue.step(snap, Inbound("000000"), replace(ctx(), code=_code(attempts_left=2)))
    assert [r.key for r in out.replies] == ["hint.code_wrong"]
    assert CodeAttempt(False) in out.effects and out.state == "access.email_code"
    out = dialogue.step(snap, Inbound("000000"), replace(ctx(), code=_code(attempts_left=1)))
    assert [r.key for r in out.replies] == ["hint.code_locked", "hint.offer_staff"]
    locked = _code(attempts_left=0, locked_until=NOW + timedelta(minutes=15), typed_ok=True)
    out = dialogue.step(snap, Inbound(GOOD), replace(ctx(), code=locked))
    assert [r.key for r in out.replies] == ["hint.code_locked", "hint.offer_staff"]
    assert not out.effects  # a locked step does not even try


def test_expired_code_and_format_hints(dialogue: Dialogue) -> None:
    snap = _at_code_step(dialogue)
    late = replace(ctx(now=NOW + timedelta(minutes=11)), code=_code(typed_ok=True))
    out = dialogue.step(snap, Inbound(GOOD), late)
    assert [r.key for r in out.replies] == ["hint.code_expired"]
    out = dialogue.step(snap, Inbound("12345"), replace(ctx(), code=_code()))
    assert [r.key for r in out.replies] == ["hint.code_format"]
    out = dialogue.step(snap, Inbound(" 123 456 "), replace(ctx(), code=_code(typed_ok=True)))
    assert out.state == "access.reason"


def test_resend_limits(dialogue: Dialogue) -> None:
    snap = _at_code_step(dialogue)
    out = dialogue.step(snap, Inbound("kirim ulang"), replace(ctx(), code=_code()))
    assert SendCode("request", "budi@example.com", resend=True) in out.effects
    assert [r.key for r in out.replies] == ["code.resent"]
    soon = _code(next_resend_at=NOW + timedelta(seconds=40))
    out = dialogue.step(snap, Inbound("resend"), replace(ctx(), code=soon))
    assert [r.key for r in out.replies] == ["hint.code_wait"] and not out.effects
    assert out.replies[0].params["seconds"] == 41
    out = dialogue.step(snap, Inbound("resend"), replace(ctx(), code=_code(resends_left=0)))
    assert [r.key for r in out.replies] == ["hint.code_no_resends"] and not out.effects


def test_a_greeting_does_not_leave_the_staff_queue(d: Driver) -> None:
    d.say("staf")
    d.say("halo")
    assert d.state == "staff" and d.keys == ["staff.still_waiting"]
    d.say("menu")
    assert d.state == "menu" and d.keys[0] == "staff.back_to_bot"


def test_open_statuses_are_written_once_and_only_final_ones_are_closed() -> None:
    assert [s for s in RequestStatus if s.is_open] == list(OPEN_STATUSES)
    assert {s for s in RequestStatus if not s.is_open} == {
        RequestStatus.COMPLETED,
        RequestStatus.REJECTED,
        RequestStatus.CANCELLED,
    }
    # The dialogue sees statuses as plain strings; they match the same way.
    assert "needs_info" in OPEN_STATUSES and "completed" not in OPEN_STATUSES


# Changes made between messages (flows.interventions) -------------------------


def _info_request(status: str = "needs_info") -> KnownRequest:
    return KnownRequest("ACC-7K3M9Q", RequestType.ACCESS, status, DUE)


@pytest.mark.parametrize("state", ["start", "menu", "info"])
def test_await_info_points_an_idle_conversation_at_the_request(
    dialogue: Dialogue, state: str
) -> None:
    moved = await_info(state, "ACC-7K3M9Q")
    assert moved == ("info", {"info_ref": "ACC-7K3M9Q"})
    # The dialogue then sends what the customer writes to that request.
    new_state, slots = moved
    asked = ctx(requests=(_info_request(),))
    out = dialogue.step(Snapshot(new_state, slots, "id"), Inbound("Ini nomor HP lama saya"), asked)
    assert out.effects == [ProvideInfo("ACC-7K3M9Q", "Ini nomor HP lama saya", None)]
    assert out.state == "info" and [r.key for r in out.replies] == ["info.received"]


@pytest.mark.parametrize(
    "state", ["deletion.full_name", "access.email_code", "staff", "status_code", "resume"]
)
def test_await_info_leaves_a_customer_in_the_middle_of_something(state: str) -> None:
    assert await_info(state, "ACC-7K3M9Q") is None


def test_release_to_bot_returns_to_the_draft_left_for_staff(d: Driver) -> None:
    for line in ("2", "Budi", "staf"):
        d.say(line)
    assert d.state == "staff" and d.snapshot.slots["_return"] == "access.email"
    slots = d.snapshot.slots
    state, released = release_to_bot(d.state, slots)
    assert state == "access.email"
    assert released == {k: v for k, v in slots.items() if k != "_return"}
    assert released["full_name"] == "Budi"
    assert slots["_return"] == "access.email"  # the slots given are left as they were
    # The customer goes on from there.
    d.snapshot = Snapshot(state, released, "id")
    d.say("budi@example.com")
    assert d.state == "access.email_code"


@pytest.mark.parametrize(
    ("slots", "state"),
    [
        ({}, "menu"),  # asked for staff at the menu: nothing to go back to
        ({"_return": "gone.step", "x": 1}, "menu"),  # a state this release no longer has
        ({"_return": "proof_for", "proof_token": "t"}, "proof_for"),
    ],
)
def test_release_to_bot_without_a_draft_goes_to_the_menu(
    slots: dict[str, object], state: str
) -> None:
    new_state, new_slots = release_to_bot("staff", slots)
    assert new_state == state
    assert "_return" not in new_slots
    assert new_slots == {k: v for k, v in slots.items() if k != "_return"}


@pytest.mark.parametrize("state", ["menu", "info", "deletion.summary"])
def test_release_to_bot_keeps_a_state_that_is_not_waiting_for_staff(state: str) -> None:
    slots = {"_return": "access.email", "info_ref": "ACC-7K3M9Q"}
    assert release_to_bot(state, slots) == (state, slots)


def test_expire_draft_leaves_the_menu_and_a_notice_for_the_next_message(
    dialogue: Dialogue,
) -> None:
    state, slots = expire_draft()
    assert (state, slots) == ("menu", {"_notice": "draft.expired"})
    slots["x"] = 1
    assert expire_draft()[1] == {"_notice": "draft.expired"}  # a fresh dict each time
    out = dialogue.step(Snapshot(*expire_draft(), "id"), Inbound("2"), ctx())
    assert [r.key for r in out.replies][:2] == ["draft.expired", "intro.access"]
    assert out.replies[0].params == {"days": 7}
    assert out.state == "access.full_name" and "_notice" not in out.slots


def test_asking_for_a_file_offers_an_upload_once_and_marks_only_those_replies(d: Driver) -> None:
    """The dialogue does not know the channel: it says which replies ask for a
    file and offers an upload once; the core makes a link where one is needed."""
    for text in ("halo", "1", "ya", "Budi Santoso", "budi@example.com", GOOD):
        d.say(text)
        assert not any(isinstance(e, OfferUpload) for e in d.outcome.effects), text  # type: ignore[union-attr]
    d.say("4")
    assert d.state == "deletion.id_proof"
    asks = {r.key: r.asks_for_file for r in d.outcome.replies}  # type: ignore[union-attr]
    assert asks["prompt.id_proof"] is True and not any(
        v for k, v in asks.items() if k != "prompt.id_proof"
    )
    assert d.outcome.effects.count(OfferUpload()) == 1  # type: ignore[union-attr]
    d.say("apa ini")  # not a file: the hint asks again, with a new offer
    assert [r.key for r in d.outcome.replies if r.asks_for_file] == ["hint.id_proof"]  # type: ignore[union-attr]
    assert OfferUpload() in d.outcome.effects  # type: ignore[union-attr]
    d.say("nanti")
    d.say("1")  # filed without proof: the receipt asks for it later
    assert [r.key for r in d.outcome.replies if r.asks_for_file] == ["filed.proof_later"]  # type: ignore[union-attr]


# The customer's answer to staff's "ask" (status needs_info, then info_received) --


@pytest.mark.parametrize("status", ["needs_info", "info_received"])
def test_an_answer_goes_to_the_asked_request_while_it_waits(
    dialogue: Dialogue, status: str
) -> None:
    """The first answer (needs_info) and any answer after it (info_received,
    before staff act again) go to the request, words and files alike."""
    asked = ctx(requests=(_info_request(status),))
    slots = {"info_ref": "ACC-7K3M9Q"}
    out = dialogue.step(Snapshot("info", slots, "id"), Inbound("Nomor HP lama 0812"), asked)
    assert out.effects == [ProvideInfo("ACC-7K3M9Q", "Nomor HP lama 0812", None)]
    assert out.state == "info" and [r.key for r in out.replies] == ["info.received"]
    photo = good_file()
    out = dialogue.step(Snapshot("info", slots, "id"), Inbound("", (photo,)), asked)
    assert out.effects == [
        KeepAttachment(photo.token),
        ProvideInfo("ACC-7K3M9Q", "", photo.token),
    ]
    assert dialogue.expects_file("info", asked.requests, "ACC-7K3M9Q")


@pytest.mark.parametrize(
    "status", ["in_progress", "verifying", "completed", "rejected", "cancelled"]
)
def test_an_answer_after_staff_moved_on_is_read_as_usual(dialogue: Dialogue, status: str) -> None:
    """Verified, rejected, cancelled...: the request takes nothing more; what
    the customer writes is read at the menu, and a file is not fetched."""
    moved_on = ctx(requests=(_info_request(status),))
    slots = {"info_ref": "ACC-7K3M9Q"}
    out = dialogue.step(Snapshot("info", slots, "id"), Inbound("1"), moved_on)
    assert not any(isinstance(e, ProvideInfo) for e in out.effects)
    assert out.state != "info"
    assert not dialogue.expects_file("info", moved_on.requests, "ACC-7K3M9Q")
    # Nor does another request's waiting count for this one.
    other = ctx(
        requests=(
            _info_request(status),
            KnownRequest("DEL-1111AA", RequestType.DELETION, "needs_info", DUE),
        )
    )
    assert not dialogue.expects_file("info", other.requests, "ACC-7K3M9Q")
    assert not dialogue.expects_file("info", other.requests, None)


def test_info_received_is_open() -> None:
    assert RequestStatus.INFO_RECEIVED.is_open
    assert "info_received" in OPEN_STATUSES


def test_release_to_bot_goes_to_the_question_staff_asked_when_nothing_else_waits() -> None:
    asked = (_info_request("completed"), _info_request())  # newest first; the second asked
    state, slots = release_to_bot("staff", {"x": 1}, asked)
    assert (state, slots) == ("info", {"x": 1, "info_ref": "ACC-7K3M9Q"})
    # A draft left for staff comes first; an answered ask is still taking answers.
    draft = {"_return": "access.email", "full_name": "Budi"}
    assert release_to_bot("staff", draft, asked)[0] == "access.email"
    answered = (_info_request("info_received"),)
    assert release_to_bot("staff", {}, answered)[0] == "info"
    # Nothing asked (or no longer: verified): the menu, as before.
    assert release_to_bot("staff", {}, (_info_request("in_progress"),)) == ("menu", {})


def test_waiting_for_staff_an_answer_to_their_question_still_reaches_its_request(
    d: Driver,
) -> None:
    d.say("staf")
    asked = ctx(requests=(_info_request(),))
    d.say("Alamat lama saya Jl. Merdeka 1", context=asked)
    assert d.state == "staff" and d.keys == ["staff.info_noted"]
    assert d.outcome is not None
    assert d.outcome.effects == [ProvideInfo("ACC-7K3M9Q", "Alamat lama saya Jl. Merdeka 1", None)]
    d.say("halo?", context=ctx(requests=(_info_request("in_progress"),)))  # verified since
    assert d.keys == ["staff.still_waiting"] and d.outcome.effects == []
