"""The inbox's list of chats, shown beside every chat: the tabs (mine,
waiting, all), the search, one page of rows and the counts the tab title
carries. Each row says who the customer is, on which channel and in which
language, their latest message, how long they have waited and why the chat
was handed over, and whether the reader has seen their latest message.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from bot.staff.accounts import Session
from bot.store.interface.chats import INBOX_TABS, ChatSummary
from bot.web.console.pages import ConsolePages
from bot.web.console.words import Words

PAGE_SIZE = 25
ANSWERED_SHOWN = 5  # requests answered to the agent listed above the chats; the rest in the queue
MAX_QUERY = 100
DEFAULT_TAB = "all"  # waiting chats first, then held ones, then the rest
# A short badge per channel (the full name is beside it for screen readers).
CHANNEL_BADGES = {"whatsapp": "WA", "sms": "SMS", "telegram": "TG", "terminal": "CLI"}
SNIPPET = 140  # the row shows a line or two; the chat shows the whole message


@dataclass(frozen=True)
class ListView:
    """Which tab, search and page the reader asked for (from the URL, checked)."""

    tab: str
    query: str
    page: int

    @classmethod
    def of(cls, request: Request) -> ListView:
        params = request.query_params
        tab = params.get("tab", DEFAULT_TAB)
        page = params.get("page", "1")
        return cls(
            tab=tab if tab in INBOX_TABS else DEFAULT_TAB,
            query=" ".join(params.get("q", "").split())[:MAX_QUERY],
            page=int(page) if page.isdigit() and 0 < len(page) <= 5 and int(page) > 0 else 1,
        )

    def query_string(self, **change: str | int) -> str:
        """This view's parameters (those that differ from the default), changed."""
        values: dict[str, str | int] = {"tab": self.tab, "q": self.query, "page": self.page}
        values.update(change)
        kept = {
            k: v
            for k, v in values.items()
            if v and not (k == "tab" and v == DEFAULT_TAB) and not (k == "page" and v == 1)
        }
        return f"?{urlencode(kept)}" if kept else ""


@dataclass(frozen=True)
class Row:
    """One chat in the list, as words."""

    id: int
    href: str
    title: str
    number: str | None
    channel: str
    badge: str
    channel_code: str
    language: str
    last: str
    last_who: str
    waiting: str | None  # "since 26 Nov 10.00 (0 h 5 min)" while nobody has it
    waited: str | None
    holder: str | None
    held_by_me: bool
    ended: bool
    reason: str
    unread: bool
    current: bool


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    href: str
    current: bool
    count: int = 0  # shown beside the label: the chats I hold, the chats nobody has


def customer_number(address: str) -> str | None:
    """The address as staff may read it; a forgotten customer's shows nothing."""
    return None if address.startswith("forgotten:") else address


def row_of(
    words: Words, summary: ChatSummary, session: Session, now_minutes: int, link: str, current: int
) -> Row:
    chat = summary.chat
    waiting = chat.waiting_staff_since is not None and chat.claimed_by is None
    number = customer_number(chat.address)
    if summary.last_text is not None:
        last = (
            summary.last_text
            if len(summary.last_text) <= SNIPPET
            else summary.last_text[: SNIPPET - 1].rstrip() + "…"
        )
    elif summary.last_at is not None:
        last = words.t("chats.no_text")
    else:
        last = ""
    since = chat.waiting_staff_since
    minutes = max(0, now_minutes - int(since.timestamp() // 60)) if since else 0
    return Row(
        id=chat.id,
        href=f"/console/chats/{chat.id}{link}",
        title=summary.name or number or words.t("chat_title", chat=chat.id),
        number=number if summary.name else None,
        channel=words.channel(chat.channel),
        badge=CHANNEL_BADGES.get(chat.channel.value, "?"),
        channel_code=chat.channel.value,
        language=words.language(chat.language),
        last=last,
        last_who=words.t(f"who.{summary.last_who}"),
        waiting=words.when(since) if waiting and since else None,
        waited=words.waited(minutes) if waiting and since else None,
        holder=chat.claimed_by,
        held_by_me=chat.claimed_by == session.email,
        ended=not waiting and chat.claimed_by is None,
        reason=words.escalation(summary.reason),
        unread=summary.unread,
        current=chat.id == current,
    )


async def list_pane(
    kit: ConsolePages, request: Request, session: Session, current: int = 0
) -> dict[str, object]:
    """What the list pane and the tab title need, for ``inbox.html`` and ``chat.html``."""
    view = ListView.of(request)
    services = kit.core.services
    async with services.store.transaction(readonly=True) as tx:
        summaries, total = await tx.chat_list(
            session.email, view.tab, view.query, PAGE_SIZE, (view.page - 1) * PAGE_SIZE
        )
        mine, waiting = await tx.chat_counts(session.email)
        held = (await tx.chat_list(session.email, "mine", "", 1))[1]
        # The requests whose customer answered this agent's ask (``answered_asks``).
        answered = await tx.answered_asks(f"staff:{session.email}")
    words = kit.words(session.language)
    now_minutes = int(services.clock().timestamp() // 60)
    link = view.query_string(page=1) if view.tab != DEFAULT_TAB or view.query else ""
    rows = [row_of(words, s, session, now_minutes, link, current) for s in summaries]
    pages = max(1, -(-total // PAGE_SIZE))
    here = "/console/inbox"
    shown = {"mine": held, "waiting": waiting - mine}
    tabs = [
        Tab(
            key,
            words.t(f"chats.tab_{key}"),
            here + view.query_string(tab=key, page=1),
            key == view.tab,
            shown.get(key, 0),
        )
        for key in INBOX_TABS
    ]
    return {
        "view": view,
        "tabs": tabs,
        "rows": rows,
        "total": total,
        "page": view.page,
        "pages": pages,
        "newer": here + view.query_string(page=view.page - 1) if view.page > 1 else None,
        "older": here + view.query_string(page=view.page + 1) if view.page < pages else None,
        "counts": {"mine": mine, "waiting": waiting, "held": held},
        "answered": answered[:ANSWERED_SHOWN],
        "answered_total": len(answered),
    }


def counted(title: str, counts: dict[str, int]) -> str:
    """The tab title: chats waiting for me and waiting at all, while there are any."""
    if counts["mine"] or counts["waiting"]:
        return f"({counts['mine']}/{counts['waiting']}) {title}"
    return title
