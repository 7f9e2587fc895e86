"""The tap's error tree, grouped by what the caller does next.

Only `client.py` turns HTTP responses into these; nothing else matches on
message text. Every message names the thing that went wrong and, where it
helps, what to do about it. No message ever contains the API key.
"""


class TapError(Exception):
    """Base of every error the tap raises on purpose; ends the run, exit 1."""


# --- Bad input: the user must fix a file or a setting. -----------------------


class ConfigError(TapError):
    """The config (file or TAP_CLOSEIO_* variables) is missing or malformed."""


class StateError(TapError):
    """The state file cannot be read or has the wrong shape."""


class CatalogError(TapError):
    """The catalog file cannot be read, has the wrong shape or names an
    unknown stream."""


# --- The tap's own parts. ----------------------------------------------------


class OutputProcessError(TapError):
    """The process that writes the records (output_process.py) stopped
    before the run ended; what it wrote, it wrote whole."""


# --- Errors from Close. -------------------------------------------------------


class ApiError(TapError):
    """Close refused a request for good (a 4xx other than the ones below).

    Carries the HTTP status and the endpoint path (never the query's key)."""

    def __init__(self, message: str, status: int | None = None, path: str = ""):
        super().__init__(message)
        self.status = status
        self.path = path


class AuthenticationError(ApiError):
    """401: the API key is wrong or revoked. Never retried."""


class AccessDeniedError(ApiError):
    """403: this key may not read this endpoint. A stream that meets it is
    skipped with a warning; the other streams go on."""


class NotFoundError(ApiError):
    """404 for a path or object that does not exist: fails the run."""


class DeletedDocumentError(NotFoundError):
    """404 whose message says the document was deleted while paging: the
    pager steps over it with a warning."""


class SkipCapError(ApiError):
    """400 because `_skip` passed Close's max_skip for the resource: the pager
    narrows its query and carries on."""


class RetryableError(TapError):
    """A fault worth repeating the same request for (5xx, connection error,
    read timeout, a 200 whose body is cut short or not JSON). Raised to the
    caller only once the retry policy has given up."""


class RateLimitError(TapError):
    """Close kept answering 429 after the bounded number of waits."""


class SkipCapExhaustedError(TapError):
    """More records share one timestamp than Close's max_skip lets us page
    through; no narrowing of the query can make progress."""
