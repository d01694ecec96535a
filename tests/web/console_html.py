"""Reading console pages as a person does: the notices on top, the text
shown, labelled facts, table rows and transcript lines, parsed from the HTML
(so the checks hold whatever the escaping or the markup around them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from bot.infra.catalogue import Catalogue

VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
# Attributes a person reads (or hears from a screen reader).
READ_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        """The text inside, as one line with single spaces."""
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                elif child.tag not in ("script", "style"):
                    walk(child)

        walk(self)
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        found = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, Node):
                    if (
                        (tag is None or child.tag == tag)
                        and (cls is None or cls in child.classes)
                        and all(child.attrs.get(k) == v for k, v in attrs.items())
                    ):
                        found.append(child)
                    walk(child)

        walk(self)
        return found

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        (found,) = self.find_all(tag, cls, **attrs)[:1] or [None]
        assert found is not None, (tag, cls, attrs)
        return found


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def notices(html: str) -> list[tuple[str, str]]:
    """(kind, text) of each notice on top of the page: done, info or error."""
    shown = []
    for node in parse(html).find_all(cls="msg"):
        kind = (
            "error"
            if "msg-error" in node.classes
            else "info"
            if "msg-info" in node.classes
            else "done"
        )
        shown.append((kind, node.text()))
    return shown


def facts(html: str, list_id: str | None = None) -> dict[str, str]:
    """The label -> value pairs of the page's description lists (or one of them)."""
    root = parse(html)
    lists = [root.find("dl", id=list_id)] if list_id else root.find_all("dl")
    pairs: dict[str, str] = {}
    for dl in lists:
        label = None
        for child in dl.children:
            if isinstance(child, Node) and child.tag == "dt":
                label = child.text()
            elif isinstance(child, Node) and child.tag == "dd" and label is not None:
                pairs[label] = child.text()
    return pairs


def rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of each body row of a table."""
    table = parse(html).find("table", id=table_id)
    return [[td.text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]


def transcript(html: str) -> list[tuple[str, str]]:
    """(kind, text) of each line of a chat's transcript: customer, bot, staff, note, event."""
    lines = []
    for li in parse(html).find("ol", cls="transcript").find_all("li"):
        kind = next(c.removeprefix("line-") for c in li.classes if c.startswith("line-"))
        lines.append((kind, li.text()))
    return lines


def shown_texts(html: str) -> list[str]:
    """Every piece of text a person reads on the page: text nodes (outside
    scripts, styles and ``<code>``, which shows configuration as written)
    and the attributes read aloud or shown in a field."""
    texts: list[str] = []

    def walk(node: Node) -> None:
        for name in READ_ATTRIBUTES:
            if node.attrs.get(name, "").strip():
                texts.append(node.attrs[name].strip())
        for child in node.children:
            if isinstance(child, str):
                if child.strip():
                    texts.append(" ".join(child.split()))
            elif child.tag not in ("script", "style", "code"):
                walk(child)

    walk(parse(html))
    return texts


_SNAKE = re.compile(r"(?<![\w.@/-])[a-z]+(?:_[a-z]+)+(?![\w@./-])")
_PAIRS = re.compile(r"(?:^|; )[a-z_]+: ")  # a dict dumped as "key: value; key: value"
_PYTHON = re.compile(r"\b(?:None|True|False)\b")
_CODED_ACTOR = re.compile(r"\b(?:staff|note|event|api):\S")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_WORD = re.compile(r"(?<![\w@.-])[a-z]+(?![\w@-])")


def unreadable(texts: list[str], lang: str, catalogue: Catalogue) -> list[str]:
    """What a person should not read on a console page in ``lang``: a
    catalogue key (``console.state.open``, ``in_progress``, ``verify``), a
    Python value (None, True, False), a stored actor code (``staff:ani@...``),
    or a sentence of the other language's console (on the Indonesian page:
    of any English text). Texts both languages share ("Email", "SMS") are fine."""
    own = set(catalogue.texts[lang].values())
    keys = set(catalogue.texts[lang])
    segments = {part for key in keys for part in key.split(".")}
    other = "en" if lang == "id" else "id"
    foreign = []
    for key, text in catalogue.texts[other].items():
        if text in own or (lang == "en" and not key.startswith("console.")):
            continue
        # A text with placeholders: its longest fixed part, if it is a phrase.
        fixed = max(_PLACEHOLDER.split(text), key=len).strip(" .,:;()")
        if len(fixed.split()) >= 3 or (fixed == text and len(text) > 3):
            foreign.append((fixed, fixed == text))
    # Words of the reader's language: a key's name that is no such word
    # ("agent" in "ani@jovapos.test (agent)") is a code showing through.
    vocabulary = {word for value in own for word in _WORD.findall(value)}
    found = []
    for text in texts:
        for word in _WORD.findall(text):
            if word in segments and word not in vocabulary:
                found.append(f"key {word!r} in {text!r}")
        if text in keys or _SNAKE.search(text) or (text in segments and text not in own):
            found.append(f"key: {text!r}")
        if _PAIRS.search(text):
            found.append(f"stored pairs: {text!r}")
        if _PYTHON.search(text):
            found.append(f"python value: {text!r}")
        if _CODED_ACTOR.search(text):
            found.append(f"stored code: {text!r}")
        for sentence, whole in foreign:
            if (
                text == sentence
                or (not whole and sentence in text)
                or (whole and len(sentence.split()) >= 3 and sentence in text)
            ):
                found.append(f"{other} text on the {lang} page: {text!r}")
    return found
