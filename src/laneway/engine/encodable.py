"""Text that no JSON encoder can send: a lone UTF-16 surrogate in a message.

Python strings may hold one (a truncated emoji pair, bytes decoded with
`surrogateescape`); UTF-8 cannot, so neither the provider's request body nor
the audit row's payload hash could be written. The request is refused before
it starts, naming the message and the character, instead of failing inside.
"""

from __future__ import annotations

import re

from laneway.errors import RequestError
from laneway.types import Message

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_error(messages: tuple[Message, ...]) -> RequestError | None:
    """The error for the first message holding a surrogate, or None (the usual case)."""
    for index, message in enumerate(messages):
        text = message.text
        if text.isascii():
            continue
        found = _SURROGATE.search(text)
        if found is not None:
            return RequestError(
                f"the text holds a lone UTF-16 surrogate (U+{ord(found.group()):04X} at "
                f"character {found.start()}), which cannot be encoded as UTF-8; decode "
                "its source with errors='replace', or join the pair it was cut from",
                param=f"messages[{index}].content",
            )
    return None
