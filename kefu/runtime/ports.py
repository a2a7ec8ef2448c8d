"""The ports channels implement so the runtime can reach a caller.

The IVR interpreter (:mod:`kefu.runtime.ivr`) is sans-I/O: it returns actions and takes
events. A channel adapter performs the actions through one of these ports and turns what
happens on its wire into events. Voice (SIP/RTP) implements :class:`MediaPort`; web chat and
SMS implement :class:`TextPort`; a kiosk implements :class:`TextPort` with
``mode = Mode.TOUCH`` and shows :class:`~kefu.runtime.ivr.actions.Choice` lists as buttons.
The port's ``mode`` is handed to the interpreter and decides how menus are presented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from kefu.runtime.ivr.actions import Choice, Mode
from kefu.runtime.ivr.events import Event


@runtime_checkable
class MediaPort(Protocol):
    """A voice call's media: prompts, DTMF/speech collection, recording, transfer."""

    mode: Mode  # Mode.VOICE

    async def play(self, audio: str, *, barge_in: bool) -> None:
        """Queue a recorded prompt.

        Args:
            audio: the audio file or URI.
            barge_in: caller input may stop it.
        """

    async def say(self, text: str, locale: str, *, barge_in: bool) -> None:
        """Queue synthesized speech (TTS) of ``text`` in ``locale``.

        Args:
            text: what to speak.
            locale: the locale, e.g. ``zh_CN``, ``en``.
            barge_in: caller input may stop it.
        """

    async def stop_prompts(self) -> None:
        """Stop every queued and playing prompt (barge-in)."""

    async def collect(self, *, dtmf: tuple[int, int] | None, speech: bool,
                      phrases: Sequence[str], timeout: float) -> Event:
        """Listen for the caller's answer: DTMF (RFC 4733) and/or speech.

        Args:
            dtmf: (min, max) digits, or None when keys are not accepted.
            speech: run speech recognition.
            phrases: expected phrases (a recognizer grammar hint).
            timeout: seconds of silence after the prompts end.

        Returns:
            ``Digits``, ``Speech``, ``NoInput`` or ``CallerHungUp``.
        """
        ...

    async def record(self, box: str, *, max_seconds: int, beep: bool) -> str:
        """Record a voicemail.

        Args:
            box: the mailbox (the flow node).
            max_seconds: the longest message.
            beep: play a tone first.

        Returns:
            The recording's URI.
        """
        ...

    async def transfer(self, number: str) -> bool:
        """Blind-transfer the call.

        Args:
            number: the destination.

        Returns:
            True when connected, False when it failed.
        """
        ...

    async def hangup(self) -> None:
        """Release the call."""


@runtime_checkable
class TextPort(Protocol):
    """A text conversation (web chat, SMS) or a kiosk screen (``mode`` TEXT or TOUCH)."""

    mode: Mode

    async def send(self, text: str, *, choices: Sequence[Choice] = ()) -> None:
        """Show a message; in text mode choices are numbered lines, in touch mode buttons.

        Args:
            text: the message.
            choices: menu options to present with it.
        """

    async def receive(self, timeout: float) -> Event:
        """Wait for the customer's reply.

        Args:
            timeout: seconds to wait.

        Returns:
            ``Text``, ``Touch``, ``NoInput`` or ``CallerHungUp``.
        """
        ...

    async def close(self) -> None:
        """End the conversation."""


class MessagePort(Protocol):
    """Outbound messages a flow sends (``send`` nodes): SMS, email."""

    async def send_message(self, channel: str, to: str, text: str) -> None:
        """Send one message.

        Args:
            channel: ``sms``, ``email``…
            to: the address.
            text: the rendered template.
        """
