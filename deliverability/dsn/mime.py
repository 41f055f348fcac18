"""Reading a raw message without ever raising: bounded parsing, decoded text, headers, addresses, dates.

Everything here takes hostile input (8-bit headers, unknown charsets, broken MIME, huge attachments) and
degrades to "less text" rather than an exception.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

# A bounce bigger than this is a bounce that returns a big attachment: the report, the DSN fields and the
# returned message's headers all come first, so parsing only the head keeps 20 MB messages fast.
MAX_PARSE_BYTES = 2 * 1024 * 1024
# The most of one part's decoded text that any pattern looks at.
MAX_TEXT_BYTES = 128 * 1024

# local@domain as found in report texts: a liberal local part (no quoting), a domain of DNS labels
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
ADDRESS_PATTERN = r"[^\s<>()\[\]\"',;:@]+@" + _LABEL + r"(?:\." + _LABEL + r")*"
ADDRESS_RE = re.compile(ADDRESS_PATTERN)
_SURROGATES_RE = re.compile(r"[\udc80-\udcff]+")
_TAG_RE = re.compile(r"<(?:script|style)\b.*?</(?:script|style)\s*>|<[^>]{0,2000}>", re.IGNORECASE | re.DOTALL)
_BLOCK_TAG_RE = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]{0,500}>", re.IGNORECASE)


def load_message(raw: bytes) -> Message | None:
    """Parse the head of ``raw``; None when the parser itself fails (it practically never does)."""
    data = raw[:MAX_PARSE_BYTES]
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    try:
        return BytesParser(policy=compat32).parsebytes(data)
    except Exception:  # the stdlib parser is lenient; anything it raises means "unreadable"
        return None


def parse_header_block(text: str) -> Message | None:
    """Parse a block of header lines (a returned message's headers given as text)."""
    try:
        return HeaderParser(policy=compat32).parsestr(text[:MAX_TEXT_BYTES])
    except Exception:
        return None


# Tried, in order, when a part's declared charset decodes badly: mislabelled Japanese (EUC-JP sent as
# ISO-2022-JP) is common in bounces from Japanese carriers, and Windows code pages everywhere.
_FALLBACK_CHARSETS = ("utf-8", "euc-jp", "shift_jis", "gb18030", "euc-kr", "cp1252")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else the best of a few fallbacks; never raises."""
    name = (charset or "").strip().strip('"').lower()
    if name in ("unknown-8bit", "x-unknown", "8bit", "unknown"):
        name = ""
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            name = ""
    text: str | None = None
    if name:
        try:
            text = data.decode(name, errors="replace")
        except Exception:  # broken codec state machines (e.g. iso-2022-*) can raise odd errors
            text = None
        if text is not None and text.count("\ufffd") * 50 <= len(text):
            return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if text is None:  # nothing declared: Windows-1252 is the usual truth
        return data.decode("cp1252", errors="replace")
    best = text
    for fallback in _FALLBACK_CHARSETS[1:]:
        candidate = data.decode(fallback, errors="replace")
        if best is None or candidate.count("\ufffd") < best.count("\ufffd"):
            best = candidate
    return best if best is not None else data.decode("cp1252", errors="replace")


def _clean(text: str) -> str:
    """Turn surrogate-escaped raw bytes (8-bit headers under compat32) back into readable text."""
    if _SURROGATES_RE.search(text):
        raw = text.encode("utf-8", errors="surrogateescape")
        return decode_bytes(raw, None)
    return text


def header_text(msg: Message, name: str) -> str:
    """One header as readable text: encoded words decoded, 8-bit bytes guessed, folding removed."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return header_value_text(value)


def header_value_text(value: object) -> str:
    if value is None:
        return ""
    text: str
    if isinstance(value, Header):
        # compat32 wraps a header holding raw 8-bit bytes in a Header with charset unknown-8bit
        try:
            text = "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in decode_header(value))
        except Exception:
            text = _clean(str(value))
    else:
        text = _clean(str(value))
        if "=?" in text:
            try:
                text = str(make_header(decode_header(text)))
            except Exception:  # an unknown charset in an encoded word: decode what can be decoded
                text = _decode_words_leniently(text)
    return " ".join(_clean(text).split())


def _decode_words_leniently(text: str) -> str:
    try:
        return "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in decode_header(text))
    except Exception:  # a malformed encoded word: keep the raw text
        return text


def header_values(msg: Message, name: str) -> list[str]:
    try:
        values = msg.get_all(name) or []
    except Exception:
        return []
    return [header_value_text(v) for v in values]


def addresses_in_header(msg: Message, name: str) -> list[str]:
    """The bare addresses of an address header (To, From, X-Failed-Recipients, ...)."""
    found: list[str] = []
    for value in header_values(msg, name):
        try:
            pairs = getaddresses([value])
        except Exception:
            pairs = []
        for _, addr in pairs:
            match = ADDRESS_RE.search(addr or "")
            if match:
                found.append(match.group(0))
        if not pairs:
            found.extend(m.group(0) for m in ADDRESS_RE.finditer(value))
    return found


def first_address(text: str) -> str | None:
    match = ADDRESS_RE.search(text or "")
    return match.group(0) if match else None


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def content_param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = value[2]
    return str(value or "").strip().lower()


def part_bytes(part: Message) -> bytes:
    """A leaf part's body, transfer-decoded, at most MAX_TEXT_BYTES."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload[:MAX_TEXT_BYTES]
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    if isinstance(raw, str):
        return raw[:MAX_TEXT_BYTES].encode("utf-8", errors="surrogateescape")
    if isinstance(raw, list):
        # message/delivery-status and friends: the parser split the body into header blocks
        return "\n".join(message_as_text(m) for m in raw if isinstance(m, Message)).encode(
            "utf-8", errors="surrogateescape"
        )[:MAX_TEXT_BYTES]
    return b""


def part_text(part: Message) -> str:
    """A leaf part's body as text with LF line ends; HTML reduced to its text."""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = decode_bytes(part_bytes(part), charset)
    text = normalize_newlines(text)
    if content_type(part) == "text/html":
        text = html_to_text(text)
    return text


def message_as_text(msg: Message) -> str:
    """Header fields and body of a (small) sub-message as text; used for DSN field blocks."""
    lines = []
    try:
        items = msg.items()
    except Exception:
        items = []
    for name, value in items:
        # raw values: an encoded word in a DSN field is part of the address the MTA saw
        lines.append(f"{name}: {' '.join(_clean(str(value)).split())}")
    text = "\n".join(lines)
    try:
        body = msg.get_payload()
    except Exception:
        body = None
    if isinstance(body, str) and body.strip():
        text += "\n" + _clean(body[:MAX_TEXT_BYTES])
    return text + "\n"


def normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


_MIME_SCAFFOLDING_RE = re.compile(
    r"^(?:--\S{6,}[ \t]*|content-(?:type|transfer-encoding|disposition|description|id)[ \t]*:.*"
    r"|[ \t]+(?:boundary|charset|name|filename)=.*|boundary=.*)$\n?",
    re.IGNORECASE | re.MULTILINE,
)


def strip_mime_scaffolding(text: str) -> str:
    """Boundary and part-header lines left in the text of a multipart whose boundary didn't parse."""
    return _MIME_SCAFFOLDING_RE.sub("", text)


def html_to_text(markup: str) -> str:
    markup = _BLOCK_TAG_RE.sub("\n", markup)
    return html.unescape(_TAG_RE.sub(" ", markup))


def is_multipart_with_parts(part: Message) -> bool:
    try:
        return isinstance(part.get_payload(), list)
    except Exception:
        return False


def iter_parts(msg: Message, *, into_messages: bool = False, depth: int = 0) -> Iterator[tuple[Message, int]]:
    """Walk a message's parts depth-first, yielding (part, depth).

    Attached messages (message/rfc822, message/global) are yielded but not entered unless
    ``into_messages``; depth is bounded so that a maliciously nested message can't recurse forever.
    """
    yield msg, depth
    if depth > 20:
        return
    try:
        payload = msg.get_payload()
    except Exception:
        return
    if not isinstance(payload, list):
        return
    ctype = content_type(msg)
    if ctype in ("message/delivery-status", "message/global-delivery-status", "message/feedback-report"):
        return
    if ctype.startswith("message/") and not into_messages:
        return
    for sub in payload:
        if isinstance(sub, Message):
            yield from iter_parts(sub, into_messages=into_messages, depth=depth + 1)


def attached_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part, or one parsed from a text/rfc822-headers part."""
    ctype = content_type(part)
    if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
        return parse_header_block(part_text(part))
    try:
        payload = part.get_payload()
    except Exception:
        return None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        # a message/rfc822 part the parser left as text (e.g. base64-encoded)
        return parse_header_block(part_text(part))
    return None


_PADDED_DAY_RE = re.compile(r"\b0(\d{2})\b")


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date as an aware UTC datetime; None when it can't be read."""
    if not value:
        return None
    text = " ".join(value.split())
    # "(JST)" comments trail many dates and parsedate ignores them; a zero-padded "029 Apr" is seen too.
    for candidate in (text, _PADDED_DAY_RE.sub(r"\1", text, count=1)):
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            return None
    return None
