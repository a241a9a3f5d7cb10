"""The API's JSON parser: DRF's, bounded in size and in nesting.

DRF reads a JSON body straight from the request stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE never applied to
it; and a body nested a few thousand levels deep made the json module raise RecursionError, an HTML 500. Here a
body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 and one nested deeper than MAX_JSON_DEPTH a 400 (parse_error),
both in the API's error body. No field of ours nests anywhere near that deep (a script is about six levels).
"""

from __future__ import annotations

import io

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from campaigns.api.errors import TooLarge

MAX_JSON_DEPTH = 32


def nested_deeper_than(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise TooLarge(_("The request body is over %(limit)s bytes.") % {"limit": limit})
        too_deep = ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nested_deeper_than(data, MAX_JSON_DEPTH):
            raise too_deep
        return data
