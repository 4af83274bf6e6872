"""Request bodies for the API (JSON, forms, multipart), refusing text that no column can
store: a 400 that says why instead of a 500 from the database."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def unstorable(data) -> str | None:
    """What in `data` (parsed JSON, or a form's (name, values) pairs) the database cannot
    hold, if anything: a NUL character (PostgreSQL refuses it in text and jsonb) or a lone
    surrogate (JSON may escape one, but it is not Unicode and cannot be encoded as UTF-8).
    Walked with a stack, not recursion: the nesting depth is the sender's choice."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "a NUL character (\\u0000)"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a lone surrogate (\\ud800-\\udfff)"
    return None


def _refuse(problem: str | None) -> None:
    # A 500 otherwise, and only on PostgreSQL (SQLite stores a NUL).
    if problem:
        raise ParseError(f"Text may not contain {problem}.")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse(unstorable(data))
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse(unstorable(list(data.lists())))
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _refuse(unstorable(list(parsed.data.lists())))
        return parsed
