"""Bounce-message parsing: raw RFC 5322 bytes in, one classified result per recipient out.

Public API::

    parse_message(raw: bytes) -> ParsedMessage

Pure Python, no database. See parser.py for the order in which a message is read.
"""

from deliverability.dsn.model import MessageKind, ParsedMessage, RecipientResult
from deliverability.dsn.parser import parse_message

__all__ = [
    "MessageKind",
    "ParsedMessage",
    "RecipientResult",
    "parse_message",
]
