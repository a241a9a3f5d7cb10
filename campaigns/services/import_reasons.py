"""Why an uploaded row was rejected, in the reader's language.

The reasons are stored in English (campaigns.services.import_chunks writes them a chunk at a time, often in a
background task that has no reader) and translated when shown: the API's upload reports and the admin's. A
reason that matches none of the patterns (an older wording) is shown as stored.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

# One pattern per sentence that import_chunks and campaigns.phones write; named groups fill the translation.
_REASONS = [
    (re.compile(r"duplicate of line (?P<line>\d+)"), _("duplicate of line %(line)s")),
    (
        re.compile(r"expected (?P<width>\d+) columns, found (?P<found>\d+)"),
        _("expected %(width)s columns, found %(found)s"),
    ),
    (re.compile(r"phone is empty"), _("phone is empty")),
    (re.compile(r"(?P<text>'.*') is not a valid phone number"), _("%(text)s is not a valid phone number")),
    (
        re.compile(r"(?P<text>'.*') is not a phone number \((?P<detail>.*)\)"),
        _("%(text)s is not a phone number (%(detail)s)"),
    ),
    (re.compile(r"already in this campaign"), _("already in this campaign")),
    (re.compile(r"on the do-not-call list"), _("on the do-not-call list")),
    (
        re.compile(r"(?P<name>\w+) is longer than (?P<limit>\d+) characters"),
        _("%(name)s is longer than %(limit)s characters"),
    ),
    (re.compile(r"unknown time zone (?P<zone>'.*')"), _("unknown time zone %(zone)s")),
    (
        re.compile(r"cannot tell the time zone from the number; add a timezone column"),
        _("cannot tell the time zone from the number; add a timezone column"),
    ),
]


def reason_text(reason: str) -> str:
    """The stored English reason in the active language."""
    for pattern, message in _REASONS:
        found = pattern.fullmatch(reason)
        if found:
            return str(message) % found.groupdict()
    return reason
