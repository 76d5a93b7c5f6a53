"""A capability: one question an AI provider answers, defined once.

A capability is everything a provider needs to answer one kind of question: the rules that
answer it offline (``talentq.domain``), and how a model is asked instead (a system prompt, the
question written as a request, the pydantic model its JSON answer must validate as, and how a
valid answer becomes the result, checked against the question). The providers answer any
capability the same way (``rules.RulesProvider``, ``openai.OpenAICompatibleProvider``); the
capabilities themselves live beside their prompts in ``prompts/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

Q = TypeVar("Q")
A = TypeVar("A", bound=BaseModel)
R = TypeVar("R")


def _nothing_to_check(question: object) -> None:
    """Every question may be asked."""


def _unnoted(result: R, note: str) -> R:
    """A result with nowhere to keep a note: the log line says it alone."""
    return result


@dataclass(frozen=True)
class Capability(Generic[Q, A, R]):
    """One question an AI provider answers: a question of type Q, a model answer A, a result R."""

    #: What is asked, as logs and errors name it ("classify_message").
    name: str
    #: The offline answer: talentq's own rules.
    rules: Callable[[Q], R]
    #: The system prompt a model is given.
    prompt: str
    #: The question as the model's user message (JSON facts, or the text to read).
    request: Callable[[Q], str]
    #: The model's JSON answer validates as this.
    answer: type[A]
    #: The result from a valid answer; ValueError when the answer breaks a rule of the question
    #: (a fee below the floor, a brand that was not offered): the provider asks again later.
    read: Callable[[A, Q], R]
    #: What an unusable answer was, for the error ("negotiation reply").
    what: Callable[[Q], str]
    #: Refuses a question no provider can answer, before any request is made.
    check: Callable[[Q], None] = _nothing_to_check
    #: When the model fails (down, or an answer that does not validate), the rules answer instead
    #: (``AI_FALLBACK``): for reading mail, where the rules' answer is as good a start as any; a
    #: capability that writes to brands or negotiates waits for the model instead.
    falls_back: bool = False
    #: The result with a note first among its cues (why the rules answered instead of the model).
    noted: Callable[[R, str], R] = _unnoted
