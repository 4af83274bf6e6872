"""The one exception every app raises when the rules refuse a move."""


class Refused(Exception):
    """A move the rules refuse, with the reason for the user.

    `code` is the HTTP status the API answers with (400 bad input, 403 not the caller's to do,
    409 conflicts with the object's current state); `conflicts` lists what a booking clashes
    with; `field` names the input at fault, for forms and the API's `errors`. The API's
    exception handler (console/api.py) turns it into the JSON answer; views that show form
    errors catch it themselves."""

    def __init__(
        self, detail: str, code: int = 409, conflicts: list | None = None, *, field: str = ""
    ):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.conflicts = conflicts or []
        self.field = field
