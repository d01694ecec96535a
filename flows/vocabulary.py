"""Recognising what customers type: commands, menu words, yes/no.

The words themselves are data (``config/keywords.toml``), loaded by the core
and handed in, so flows stay free of I/O. Commands match the whole message;
menu words match whole words or phrases inside it, in either language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flows.validators import normalise_command


@dataclass(frozen=True)
class Vocabulary:
    commands: Mapping[str, frozenset[str]]
    choices: Mapping[str, Mapping[str, tuple[re.Pattern[str], ...]]]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]]):
        commands = {
            name: frozenset(normalise_command(word) for word in words)
            for name, words in data["commands"].items()
        }
        choices = {
            menu: {
                option: tuple(_phrase_pattern(p) for p in phrases)
                for option, phrases in options.items()
            }
            for menu, options in data["choices"].items()
        }
        return cls(commands=commands, choices=choices)

    def command(self, text: str) -> str | None:
        """The global command this whole message is, if any."""
        said = normalise_command(text)
        for name, words in self.commands.items():
            if said in words:
                return name
        return None

    def choose(self, menu: str, text: str, options: Sequence[str]) -> str | None:
        """Pick one of ``options`` (in display order) by its number or its words.

        Ambiguous answers (words of two options) return None so the step can
        ask again rather than guess.
        """
        said = normalise_command(text)
        said = re.sub(r"^(no\.?|nomor|pilihan|option)\s*", "", said)
        if said.isdigit():
            index = int(said) - 1
            return options[index] if 0 <= index < len(options) else None
        known = self.choices.get(menu, {})
        matched = [o for o in options if any(p.search(said) for p in known.get(o, ()))]
        return matched[0] if len(matched) == 1 else None

    def mentions(self, menu: str, option: str, text: str) -> bool:
        """Whether the message holds a word or phrase of ``option``, whatever else it says."""
        said = normalise_command(text)
        return any(p.search(said) for p in self.choices.get(menu, {}).get(option, ()))


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = normalise_command(phrase).split()
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)")
