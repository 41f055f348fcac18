"""Finding failed recipients and their error texts in the free-text bounces that MTAs write instead of
(or beside) an RFC 3464 report: qmail, Exim, Sendmail v5 transcripts, Exchange 2003, Gmail, Yahoo,
Mail.ru, Domino, IMail, OpenSMTPD, Zoho, au/ezweb, InterScan, m-FILTER and the like.

The approach is line based and general: an address that a report line *starts* with ("<user@host>:",
"  user@host", "550 <user@host>... User unknown", "* user@host"), or that follows a phrase such as
"RCPT TO:" or "could not be delivered to:", names a recipient; the lines after it, up to the next
recipient, are its diagnostic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deliverability.dsn.mime import ADDRESS_PATTERN, ADDRESS_RE
from deliverability.dsn.patterns import ORIGINAL_MARKER_RE

MAX_REPORT_CHARS = 32 * 1024
MAX_DIAGNOSTIC_CHARS = 2000
MAX_SEGMENT_LINES = 16
MAX_MENTIONS = 4

_LINE_START_RE = re.compile(
    r"^[ \t>|]*"  # indentation and quoting
    r"(?:(?:[*•]+|-{1,3}|\d{1,2}[.)]|<<<|>>>)[ \t]*)?"  # a bullet or a transcript arrow
    r"(?:[245]\d\d[ \t-]+(?:[245]\.\d{1,3}\.\d{1,3}[ \t]+)?)?"  # "550 5.1.1 <user@host>... User unknown"
    r"<?(" + ADDRESS_PATTERN + r")>?",
)
_PHRASE_RE = re.compile(
    r"(?:rcpt to:?|recipient:|address:|delivering your mail to|delivered to:?|deliver (?:the |your )?"
    r"(?:mail |message |e-?mail )?to:?|delivery failed:|unknown user:|allowed size:|attempts:|"
    r"rejected recipient|permanent errors:|could not deliver mail to|following address(?:es)?:|"
    r"failed recipient:?|intended recipient:?)"
    r"[ \t]*<?(" + ADDRESS_PATTERN + r")>?",
    re.IGNORECASE,
)
# Failure codes only: a 2xx number in a failure report is a size, a count or a time, not the error.
_REPLY_CODE_RE = re.compile(r"(?<![\d.,:/\-])[45]\d\d(?![\d.,:/])")
_STATUS_RE = re.compile(r"(?<![\d.])[45]\.\d{1,3}\.\d{1,3}(?![\d])")
_LINE_CODE_RE = re.compile(r"^[ \t>|]*(?:<<<[ \t]*)?([45]\d\d)(?:[ \t-]|$)", re.MULTILINE)
_LETTERS_RE = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True)
class TextRecipient:
    email: str
    diagnostic: str
    smtp_code: int | None = None  # a reply code opening a transcript line, when the text has one


def split_original(text: str) -> tuple[str, str | None]:
    """The report part of a bounce's text and, when a marker shows where it starts, the returned original."""
    text = text[: MAX_REPORT_CHARS * 4]
    match = ORIGINAL_MARKER_RE.search(text)
    if not match:
        return text[:MAX_REPORT_CHARS], None
    return text[: match.start()][:MAX_REPORT_CHARS], text[match.start() :]


def original_headers_text(rest: str) -> str:
    """The header block of a returned original that follows a marker line in a text bounce."""
    lines = rest.split("\n")
    first = lines[0]
    # a marker that is itself a header field ("Received: ...") starts the header block
    if re.match(r"^[A-Za-z][A-Za-z0-9\-]*:", first) and not first.lower().startswith(("content-type", "content-desc")):
        start = 0
    else:
        start = 1
    body = lines[start:]
    while body and not body[0].strip():
        body = body[1:]
    # a MIME part header ("Content-Type: message/rfc822" and friends) before the message itself
    if body and body[0].lower().startswith("content-"):
        index = 0
        while index < len(body) and body[index].strip():
            index += 1
        rest_lines = body[index:]
        while rest_lines and not rest_lines[0].strip():
            rest_lines = rest_lines[1:]
        if rest_lines:
            body = rest_lines
    header_lines: list[str] = []
    for line in body[:400]:
        if not line.strip():
            break
        header_lines.append(line)
    return "\n".join(header_lines) + "\n\n"


# Which SMTP command a rejection answered. A server that accepted a recipient at RCPT TO and refused the
# message after DATA judged the content or the sender, so its "user unknown" doesn't prove the mailbox gone;
# a refusal of the RCPT TO command itself is the server's verdict on the address. The phrases are those of
# Postfix ("in reply to RCPT TO command", wrapped lines may cut off "command"), Exim ("after RCPT TO:",
# "after end of data"), qmail ("does not like recipient", "most progress was RCPT TO response"), Sendmail
# and Courier transcripts (">>> RCPT To:"), DragonFly ("did not like our RCPT TO"), GMX ("after RCPT
# command"), Yahoo ("[RCPT_TO]") and "SMTP:RCPT" / "SMTP:DATA" summaries.
def _phrases(*patterns: str) -> re.Pattern[str]:
    # a space in a phrase matches any run of white space: reports wrap lines anywhere
    return re.compile("|".join(p.replace(" ", r"\s+") for p in patterns), re.IGNORECASE)


_RCPT_PHASE_RE = _phrases(
    r"in reply to rcpt to\b",
    r"after rcpt(?: to)?\b",
    r"rcpt to response",
    r">>>\s*rcpt to",
    r"our rcpt to",
    r"smtp command\W*rcpt",
    r"smtp\s*:\s*rcpt\b",
    r"error following rcpt command",
    r"\(rcpt\)",
    r"\[rcpt_to\]",
    r"does not like recipient",
)
# Only explicit statements count here: a Sendmail transcript shows ">>> DATA" before the replies to pipelined
# RCPT TO commands too (see data_reply_in_transcript for when the transcript itself is proof).
_DATA_PHASE_RE = _phrases(
    r"in reply to end of data\b",
    r"after end of data",
    r"after data\b",
    r"our (?:final )?data\b",
    r"smtp command\W*data\b",
    r"smtp\s*:\s*data\b",
    r"step: data",
    r"\(data\)",
    r"in reply to data\b",
)
# The generic wording that, after DATA, filters use too; an explicit account state ("disabled", "inactive",
# "doesn't have an account") is not generic.
_GENERIC_UNKNOWN_RE = re.compile(r"user unknown|unknown user|no such user|unknown recipient", re.IGNORECASE)
# A transcript's ">>> COMMAND" sent and "<<< 550 ..." received (Sendmail, Courier, Domino, m-FILTER), also in
# a diagnostic whose lines were joined.
_SENT_RE = re.compile(r"(?<!\S)>>>[ \t]*(\S+)")
_RECEIVED_RE = re.compile(r"(?<!\S)<<<[ \t]*\S")


def generic_unknown_user(text: str) -> bool:
    return bool(_GENERIC_UNKNOWN_RE.search(text))


def smtp_phase(text: str) -> str | None:
    """Which command a server refused ("rcpt" or "data"), when the text says; RCPT wins when both show."""
    if _RCPT_PHASE_RE.search(text):
        return "rcpt"
    if _DATA_PHASE_RE.search(text):
        return "data"
    if data_reply_in_transcript(text):
        return "data"
    return None


def data_reply_in_transcript(text: str) -> bool:
    """A transcript whose last command is ">>> DATA" (or ">>> ." ending the data), answered by one reply.

    With PIPELINING (RFC 2920) the client sends RCPT TO and DATA together, and a Sendmail transcript shows
    the RCPT replies after ">>> DATA", then the reply to DATA itself: two replies or more. A single "<<<"
    reply after the last command, DATA or the final ".", is the answer to the message, not to a recipient.
    """
    sent = list(_SENT_RE.finditer(text))
    if not sent or sent[-1].group(1).upper() not in ("DATA", "."):
        return False
    return len(_RECEIVED_RE.findall(text, sent[-1].end())) == 1


def has_code(text: str) -> bool:
    return bool(_REPLY_CODE_RE.search(text) or _STATUS_RE.search(text))


def _letters(text: str) -> int:
    return len(_LETTERS_RE.findall(ADDRESS_RE.sub(" ", text)))


def mentioned_recipients(report: str, excluded: set[str]) -> list[str]:
    """Addresses the report names as recipients, in order of first mention.

    Our own addresses (``excluded``: the sender, the report's recipient) are left out, unless they are
    all the report names: a message sent to oneself bounces to oneself.
    """
    found: list[str] = []
    seen: set[str] = set()
    for line in report.split("\n"):
        candidates = []
        match = _LINE_START_RE.match(line)
        if match:
            candidates.append(match.group(1))
        candidates.extend(m.group(1) for m in _PHRASE_RE.finditer(line))
        for address in candidates:
            address = address.strip(".")
            key = address.lower()
            if key in seen or _is_daemon(key):
                continue
            seen.add(key)
            found.append(address)
    theirs = [a for a in found if a.lower() not in excluded]
    return theirs or found


def other_addresses(report: str, excluded: set[str]) -> list[str]:
    """Every address in the report that isn't one of ours (the fallback when no line names a recipient)."""
    found: list[str] = []
    seen: set[str] = set()
    for match in ADDRESS_RE.finditer(report):
        address = match.group(0).strip(".")
        key = address.lower()
        if key in seen or key in excluded or _is_daemon(key):
            continue
        seen.add(key)
        found.append(address)
    return found


def _is_daemon(address: str) -> bool:
    local = address.split("@", 1)[0]
    return local in ("mailer-daemon", "mailer_daemon", "mailerdaemon")


def recipient_diagnostics(report: str, recipients: list[str]) -> list[TextRecipient]:
    """Each recipient with the report lines that explain its failure.

    A recipient's diagnostic is the text after each line that mentions it, up to the next line that
    mentions any recipient (reports often name the address twice: once in a human sentence, once beside
    the server's reply). When none of that holds a reply code, a lone recipient gets the whole report
    and one of several gets the report's opening text as well.
    """
    lines = report.split("\n")
    lowered = [line.lower() for line in lines]
    mentions: dict[str, list[int]] = {}
    for address in recipients:
        key = address.lower()
        mentions[key] = [index for index, line in enumerate(lowered) if key in line][:MAX_MENTIONS]
    boundaries = sorted({index for found in mentions.values() for index in found})
    preamble_end = boundaries[0] if boundaries else len(lines)
    results: list[TextRecipient] = []
    for address in recipients:
        segments: list[str] = []
        for start in mentions.get(address.lower(), []):
            end = next((b for b in boundaries if b > start), len(lines))
            segment = _segment(lines, start, end)
            if segment not in segments:
                segments.append(segment)
        text = "\n".join(segments)
        if not has_code(text):
            if len(recipients) == 1 or not segments:
                text = report
            elif _letters(text) < 12 or not has_code(text):
                text = "\n".join(lines[:preamble_end]) + "\n" + text
        results.append(TextRecipient(email=address, diagnostic=squeeze(text), smtp_code=line_reply_code(text)))
    return results


def line_reply_code(text: str) -> int | None:
    """A 4xx/5xx reply code that opens a line of a transcript ("<<< 550 ...", "550-5.1.1 ...")."""
    match = _LINE_CODE_RE.search(text)
    return int(match.group(1)) if match else None


def _segment(lines: list[str], start: int, end: int) -> str:
    first = lines[start]
    if has_code(first) and _letters(first) >= 8:
        # one line per recipient ("<user@host>: 550 5.1.1 ...", "554 <user@host>... Host unknown"),
        # continued only by lines indented deeper than it
        indent = len(first) - len(first.lstrip())
        taken = [first]
        for line in lines[start + 1 : end]:
            if line.strip() and len(line) - len(line.lstrip()) > indent:
                taken.append(line)
            else:
                break
        return "\n".join(taken)
    taken = [first]
    content = 0
    for line in lines[start + 1 : end]:
        if not line.strip():
            if has_code("\n".join(taken)):
                break
            continue
        taken.append(line)
        content += 1
        if content >= MAX_SEGMENT_LINES:
            break
    return "\n".join(taken)


def squeeze(text: str) -> str:
    """Whitespace collapsed, undecodable characters dropped, bounded: how diagnostics are stored."""
    return " ".join(text.replace("\ufffd", " ").split())[:MAX_DIAGNOSTIC_CHARS]
