"""Data tables for recognising messages that are not RFC 3464 reports: who sends bounces, what their
subjects and texts say, where the returned original begins, and what auto-replies look like.

Each entry notes the mail systems it comes from (the samples are in ../shared/corpus/bounces-sisimai).
"""

from __future__ import annotations

import re


def _any(*patterns: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    # a space in a pattern matches any run of white space: report texts wrap lines anywhere
    return re.compile("|".join(f"(?:{p.replace(' ', r'\s+')})" for p in patterns), flags)


# Local parts and display names of the senders of delivery reports.
BOUNCE_SENDER_RE = _any(
    r"\bmailer[-_]?daemon\b",  # nearly every MTA
    r"\bpost_?master\b",  # Exchange, Domino, IMail, Courier, InterScan, au/ezweb, Verizon (post_master)
    r"\bmail\.?delivery\.?(?:system|subsystem|service)\b",  # "Mail.Delivery.System@" (Exim variants)
    r"\bmail delivery (?:system|subsystem|service)\b",  # display names: Postfix, Sendmail, Gmail, Exim
    r"\bmail deliver system\b",  # Mail2000
    r"\bmail administrator\b",  # au/ezweb
    r"\binternet mail delivery\b",  # Oracle Communications Messaging Server
    r"\bndr administrator\b",  # Verizon MMS
    r"\bmdaemon\b",
)

# Subjects of delivery failure and delay reports, in the languages the samples and our schools use.
BOUNCE_SUBJECT_RE = _any(
    r"undeliver(?:able|ed)",  # Exchange, Postfix, IMail, Verizon
    r"delivery (?:status )?notification",  # Gmail, SES, Exchange, OpenSMTPD, x3
    r"delivery (?:failure|failed|has failed|report|problem)",
    r"failure (?:notice|delivery)",  # qmail, Yahoo, m-FILTER
    r"returned mail",  # Sendmail, Biglobe, Mail2000
    r"mail delivery (?:failed|failure|status)",  # Exim, Zoho, MXLogic, DragonFly
    r"mail failure",  # Exim (malformed address)
    r"message delivery has failed",  # MailFoundry
    r"(?:could|can)\s?not (?:be )?(?:delivered|send)",  # InterScan, Sendmail v5 warnings
    r"mail could not be delivered",
    r"postmaster notify",  # Sendmail
    r"mail system error",  # au/ezweb
    r"undelivered mail",
    r"there was an error sending your mail",  # x6
    r"warning: message .* delayed",  # Exim delay warnings
    r"\bdelayed mail\b",
    r"delivery (?:has been )?delayed",
    r"non recapitabile",  # Exchange (Italian)
    r"unzustellbar",  # Exchange (German)
    r"non remis",  # Exchange (French)
    r"niedostarczon|nie (?:mo[zż]na|uda[lł]o si[eę]) dostarczy",  # Polish servers
    r"недоставлен|не (?:может быть )?доставлено",  # Mail.ru, Yandex
    r"delivery failure",  # Domino
    r"mail delivery failed",
    r"email bounce",
)

# Texts that only a delivery report says (body of a report without MIME structure).
FAILURE_TEXT_RE = _any(
    r"could not be delivered",
    r"wasn'?t able to deliver",
    r"was not delivered",
    r"unable to deliver",
    r"delivery to the following recipients? (?:failed|has been delayed|was aborted)",
    r"following address(?:\(es\)|es)? (?:failed|had)",
    r"this is a permanent error",
    r"permanent (?:fatal )?errors?",
    r"did not reach the following recipient",
    r"could not be reached",
    r"delivery has failed",
    r"(?:delivery|message) (?:to .{0,80} )?(?:failed|failure)",
    r"error (?:has )?occurred while (?:attempting|trying) to deliver",
    r"returned to sender",
    r"rejected by (?:a )?remote mail server",
    r"not delivered within",
    r"has not yet been delivered",
    r"there was an error delivering your mail",
    r"we had trouble delivering your message",
    r"error delivering",
    r"transcript of session follows",
    r"failure reasons",
    r"delivery failed",
    r"not listed in (?:domino|public name & address book)",
    r"error: invalid user address",
    r"unknown user:",
    r"no valid recipients",
    r"could not send (?:mail|message)",
    r"не может быть доставлено",  # Mail.ru
)

# A report about a delivery that is only delayed (the MTA keeps retrying).
DELAYED_TEXT_RE = _any(
    r"this is (?:a|only a) warning message",
    r"warning message only",
    r"\bhas been delayed\b",
    r"\bhas not yet been delivered\b",
    r"will (?:be retried|continue|try again|keep trying)",
    r"delivery attempts will continue",
    r"still being retried",
    r"only a temporary failure",
    r"do not need to re-?send",
    r"is delayed for more than",
)
DELAYED_SUBJECT_RE = _any(
    r"\(delay\)",
    r"^warning\b",
    r"\bdelayed\b",
    r"could not send (?:mail|message) for past",
    r"notification: (?:warning|delayed)",
)

# Where the copy of the original message starts inside a report's text.
ORIGINAL_MARKER_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"^[ \t]*-*[ \t]*below this line is a copy of the message",  # qmail, Yahoo
            r"^[ \t]*-*[ \t]*this is a copy of (?:the|your) message",  # Exim
            r"^[ \t]*-*[ \t]*enclosed is a copy of the message",  # indimail/qmail
            r"^[ \t]*-*[ \t]*original message(?: follows| header[s]?)?[ \t]*[-.:]*[ \t]*$",  # Gmail, x2
            r"^[ \t]*-*[ \t]*original message follows",
            r"^[ \t]*-+[ \t]*original (?:mail info|message)",  # m-FILTER
            r"^[ \t]*-*[ \t]*returned message[ \t]*-*",  # Notes
            r"^[ \t]*-*[ \t]*the header of the original message is following",  # 1&1
            r"^[ \t]*below is a copy of the original message",  # OpenSMTPD
            r"^message headers follow",  # DragonFly
            r"^original message:",  # Verizon
            r"^bounced e-mail:",
            r"^content-type:[ \t]*(?:message/(?:rfc822|global)|text/rfc822-headers)",  # MIME that didn't parse
            r"^content-description:[ \t]*undelivered message",  # Postfix, broken boundary
            r"^(?:return-path|received|dkim-signature|x-received|arc-seal|authentication-results):",
        )
    ),
    re.IGNORECASE | re.MULTILINE,
)

# Auto-replies (RFC 3834 and the headers and subjects real autoresponders use).
AUTO_REPLY_SUBJECT_RE = _any(
    r"out of (?:the )?office",
    r"automatic reply",
    r"auto(?:matic)?[- ]?(?:reply|response|responder|antwort)",
    r"autoresponder",
    r"\bautoreply\b",
    r"\bvacation\b",
    r"\baway (?:from|until)\b",
    r"^\s*auto:",
    r"abwesenheit",  # German: Abwesenheitsnotiz
    r"automatische antwort",
    r"réponse automatique|reponse automatique",
    r"absence du bureau",
    r"risposta automatica|fuori sede",
    r"respuesta autom[aá]tica|fuera de la oficina",
    r"resposta autom[aá]tica",
    r"automatisch antwoord|afwezig",
    r"автоответ|автоматический ответ",
    r"odpowied[zź] automatyczna|automatyczna odpowied[zź]|poza biurem|nieobecno[sś][cć]",
    r"automatick[aá] odpov[eě][dď]",
    r"自動応答|自動返信|不在",
)
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mailautoreply")
AUTO_REPLY_PRECEDENCE_RE = re.compile(r"auto[_-]?reply", re.IGNORECASE)

# Content-filtering gateways (anti-spam / anti-virus appliances in front of the real mail server) that write
# their own bounce, recognised by a header of the bounce itself: (header name, pattern of its value). Such a
# gateway accepts the message first and reports a later refusal with its SMTP phase and enhanced status lost
# (or its own filter's verdict in the same words), so its bare "user unknown" doesn't prove the address gone;
# Sisimai reads these as "filtered". Not here: hosted services that document their "No such user" as an
# address check (Symantec Email Security.cloud / MessageLabs, Broadcom KB 165163).
FILTER_GATEWAY_HEADERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # McAfee Email Gateway / Email and Web Security appliance: "X-NAI-Header: Modified by McAfee ..."
    ("X-NAI-Header", re.compile(r"\bmcafee\b", re.IGNORECASE)),
    # SurfControl (Websense) E-mail Filter: "X-Mailer: SurfControl E-mail Filter"
    ("X-Mailer", re.compile(r"\bsurfcontrol\b", re.IGNORECASE)),
    # Digital Arts m-FILTER: "X-Mailer: m-FILTER"
    ("X-Mailer", re.compile(r"^\s*m-filter\b", re.IGNORECASE)),
    # MailFoundry: the gateway's own hop, "Received: From localhost (127.0.0.1) by host (MAILFOUNDRY) id ..."
    ("Received", re.compile(r"\(mailfoundry\)", re.IGNORECASE)),
    # Active!Hunter (anti-spam gateway): its mail id header, "X-AHMAILID: ..."
    ("X-AHMAILID", re.compile(r"\S")),
    # Active!Hunter: MIME boundary "----=_Active!Hunter_..." of its multipart/report
    ("Content-Type", re.compile(r"boundary=\"?-*=_active!hunter_", re.IGNORECASE)),
    # Trend Micro InterScan Messaging Security Suite: From "InterScan MSS" / "InterScan Notification"
    ("From", re.compile(r"\binterscan\b", re.IGNORECASE)),
)
