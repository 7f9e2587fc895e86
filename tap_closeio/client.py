"""The HTTP client for Close: the only module that talks to `requests`. It owns
auth, timeouts, the one retry policy, Close's rate limits and request metrics."""

import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from singer import metrics
from singer.logger import get_logger

from tap_closeio import __version__, codec
from tap_closeio.config import Config
from tap_closeio.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    DeletedDocumentError,
    NotFoundError,
    RateLimitError,
    RetryableError,
    SkipCapError,
)
from tap_closeio.pacing import Pacer

LOGGER = logging.getLogger(__name__)

# NB: singer's http_request_timer calls singer.get_logger() on every request,
# which re-reads singer's logging.conf each time (0.5 ms CPU a request). The
# client applies that config once, when it is made, and writes the same
# METRIC lines to the root logger it sets up.
METRICS_LOGGER = logging.getLogger()

DEFAULT_USER_AGENT = f"tap-closeio/{__version__}"

# Close resets its budgets in well under a minute (15 s windows, decimal
# `reset` values), so a 429 that names no wait gets the official client's 2 s.
DEFAULT_RATE_LIMIT_WAIT = 2.0

# Floor for the wait after a 429. Close reports `reset` as a decimal that can
# be 0 or a few ms (close-api.md section 3); sleeping that little and asking
# again is a busy loop against a budget that is still spent. A quarter second
# costs little next to a request's own latency and lets the window roll over.
MIN_RATE_LIMIT_WAIT = 0.25

# The longest wait for Close's rate limit this tap sits out. Close's windows
# are seconds long; a wait of hours is a daily quota or a broken header (an
# epoch time where seconds belong), and sleeping through it would look like
# a hung run. A 429 asking for longer ends the run; a 200's budget that
# resets later is not paced on.
MAX_RATE_LIMIT_WAIT = 900.0

# Floor for the wait after a 200 that spent the budget (remaining 0). That
# answer was served, so a `reset` of 0 costs at most one 429 and the wait
# above; the quarter second here instead cost about 0.2 s of every 1.3 s
# budget window in the latency-bound bench (bench/RESULTS.md).
SPENT_BUDGET_FLOOR = 0.05

_RATELIMIT_FIELD = re.compile(
    r"\b(limit|remaining|reset)\s*=\s*([0-9]*\.?[0-9]+)", re.I
)


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry policy. Faults worth repeating (5xx, connection errors,
    read timeouts, a 200 whose body is cut short or not JSON) get exponential
    waits of 1, 2, 4, 8, 16 s; 429s get the wait Close names, at most
    `max_rate_limited` times in a row."""

    max_attempts: int = 6
    max_wait: float = 60.0
    max_rate_limited: int = 10

    def waits(self) -> Iterator[float]:
        # NB: backoff's decorators sleep with time.sleep, which tests cannot
        # replace, so the client drives backoff's wait generator itself. It
        # is imported here, at the first fault: it pulls in asyncio (70 ms).
        import backoff

        generator = backoff.expo(base=2, factor=1, max_value=self.max_wait)
        next(generator)  # backoff's generators yield None before the first wait
        return generator


@dataclass(frozen=True)
class Budget:
    """What a response says about its endpoint group's rate-limit budget."""

    remaining: int | None
    reset: float | None
    limit: int | None = None


class _RateLimited(Exception):
    """A 429: wait `seconds` (None when Close named no wait), then repeat."""

    def __init__(self, seconds: float | None):
        super().__init__(seconds)
        self.seconds = seconds


class _Group:
    """Rate-limit bookkeeping of one endpoint group, shared by all threads."""

    def __init__(self) -> None:
        self.ready_at = 0.0  # monotonic time before which nothing is sent
        self.reason = ""
        self.in_flight = 0
        self.senders = 1  # the most requests ever in flight at once
        self.pacer = Pacer()
        self.announced = 0.0  # the ready_at of the last hold logged
        self.quiet = False  # the hold is the pacer's own: not logged


class CloseClient:
    """Thread-safe client for Close's REST API. `get` and `post` return the
    parsed JSON object of a 2xx answer or raise one of `errors.py`'s classes;
    every retry and rate-limit wait happens inside."""

    def __init__(
        self,
        config: Config,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        policy: RetryPolicy | None = None,
    ):
        self._api_key = config.api_key
        self._base_url = config.base_url
        self._timeout = config.request_timeout
        self._headers = {
            "User-Agent": config.user_agent or DEFAULT_USER_AGENT,
            "Accept": "application/json",
            # Close reads date filters without an offset in this zone; the
            # official client sends the machine's own (close-api.md section 1).
            # The tap sends UTC values, so pin it: a naive filter such as the
            # lead query's date_updated>="2024-01-01T10:00" means UTC everywhere.
            "X-TZ-Offset": "0",
        }
        self._sleep = sleep
        self._monotonic = monotonic
        self.policy = policy or RetryPolicy()

        self._lock = threading.Lock()
        self._local = threading.local()
        # Weak: a session dies with its worker thread's thread-local slot.
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._groups: dict[str, _Group] = {}
        self._closed = False
        self.requests_made = 0

        get_logger()  # singer's logging config: METRIC lines on stderr

    def __repr__(self) -> str:
        return f"CloseClient(base_url={self._base_url!r})"

    def __enter__(self) -> "CloseClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection. A request still being retried in a thread
        the run left behind (paging.STOP_WAIT) then ends at its next try
        instead of asking Close again after the run."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions)
            self._sessions.clear()
        for session in sessions:
            session.close()

    def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        page: bool = False,
    ) -> dict:
        """GET `path` (relative to base_url, e.g. "activity/") with `params`
        sent exactly as given, so that a repeated request is the same one.
        With `page`, an answer without a `data` list of objects is a fault,
        repeated like a body cut short."""
        params = dict(params) if params else None
        return self._request("GET", path, params=params, page=page)

    def post(self, path: str, body: dict) -> dict:
        """POST `body` as JSON to `path` (relative to base_url)."""
        return self._request("POST", path, body=body)

    # --- the request loop --------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
        page: bool = False,
    ) -> dict:
        path = path.lstrip("/")
        group = _group_of(path)
        waits: Iterator[float] | None = None
        faults = 0
        rate_limited = 0
        while True:
            if self._closed:
                raise RetryableError(f"{method} /{path} not sent: the client is closed")
            state = self._enter_group(group)
            try:
                result = self._send(method, path, group, state, params, body)
                if page:
                    _check_page(method, path, result)
                return result
            except _RateLimited as exc:
                rate_limited += 1
                self._after_rate_limit(method, path, group, exc, rate_limited)
            except RetryableError as exc:
                faults += 1
                rate_limited = 0
                if waits is None:
                    waits = self.policy.waits()
                self._after_fault(method, path, exc, faults, waits)

    def _after_rate_limit(
        self, method: str, path: str, group: str, exc: _RateLimited, count: int
    ) -> None:
        if count >= self.policy.max_rate_limited:
            raise RateLimitError(
                f"Close kept rate limiting {method} /{path}: {count} responses "
                "in a row were HTTP 429 (Too Many Requests). Lower 'concurrency' "
                "or run the tap when other API clients of this organisation "
                "are quiet."
            )
        seconds = exc.seconds
        if seconds is None:
            seconds = DEFAULT_RATE_LIMIT_WAIT
            reason = f"HTTP 429 on /{path} without a reset time"
        else:
            reason = f"HTTP 429 on /{path}"
        if seconds > MAX_RATE_LIMIT_WAIT:
            raise RateLimitError(
                f"Close asks to wait {seconds:.0f} s before the next {method} "
                f"/{path} (HTTP 429), longer than this tap waits "
                f"({MAX_RATE_LIMIT_WAIT:.0f} s). Run it again later; the last "
                "STATE is safe to resume from."
            )
        self._hold_group(group, seconds, reason)

    def _after_fault(
        self,
        method: str,
        path: str,
        exc: RetryableError,
        attempts: int,
        waits: Iterator[float],
    ) -> None:
        if attempts >= self.policy.max_attempts:
            LOGGER.error(
                "Giving up on %s /%s after %d attempts", method, path, attempts
            )
            raise RetryableError(f"{exc} (gave up after {attempts} attempts)") from None

        # NB: a connection that cut a body short or broke may be half-closed
        # on Close's side; reusing it from the pool would fail once more.
        self._drop_session()

        seconds = next(waits)
        # WARNING: a fault, even one a retry gets past, is what someone
        # looking into a slow or failed run searches the log for.
        LOGGER.warning(
            "Waiting %.2f s before retrying %s /%s (attempt %d of %d failed: %s)",
            seconds,
            method,
            path,
            attempts,
            self.policy.max_attempts,
            exc,
        )
        self._sleep(seconds)

    # --- one request -----------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        group: str,
        state: "_Group",
        params: dict | None,
        body: dict | None,
    ) -> dict:
        """Send one request counted in flight by `_enter_group`."""
        url = self._base_url + path
        tags: dict[str, Any] = {metrics.Tag.endpoint: "/" + path}
        started = time.monotonic()
        try:
            response = self._transport(method, path, url, params, body)
            tags[metrics.Tag.http_status_code] = response.status_code
            LOGGER.debug(
                "%s /%s %s -> HTTP %d", method, path, params, response.status_code
            )
            self._note_budget(group, state, response)
            result = self._interpret(method, path, params, response)
        except BaseException:
            _log_request_time(started, tags, metrics.Status.failed)
            raise
        finally:
            self._leave_group(state)

        _log_request_time(started, tags, metrics.Status.succeeded)
        return result

    def _transport(
        self,
        method: str,
        path: str,
        url: str,
        params: dict | None,
        body: dict | None,
    ) -> requests.Response:
        with self._lock:
            self.requests_made += 1
        try:
            session = self._session()
            response = session.send(
                _prepare(session, method, url, params, body),
                timeout=self._timeout,
                stream=True,
                # Given, so that send does not resolve them again per request:
                # trust_env is off, and these were read from the environment
                # once (_read_environment_once). verify and cert send takes
                # from the session itself.
                proxies=session.proxies,
            )
            _read_whole_body(response)
            return response
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise RetryableError(
                f"Close did not answer {method} /{path} within {self._timeout:g} s"
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            # NB: requests' messages carry the URL (never the Authorization
            # header); name only the kind of failure, and redact regardless.
            raise RetryableError(
                self._redact(
                    f"Connection to Close failed on {method} /{path} "
                    f"({type(exc).__name__})"
                )
            ) from None

    def _interpret(
        self, method: str, path: str, params: dict | None, response: requests.Response
    ) -> dict:
        status = response.status_code
        if 200 <= status < 300:
            return _parse_body(method, path, response)
        if status == 429:
            raise _RateLimited(
                rate_limit_wait(response.headers, _json_or_none(response))
            )
        if status >= 500:
            raise RetryableError(f"Close answered HTTP {status} on {method} /{path}")
        raise self._client_error(method, path, params, response)

    def _client_error(
        self, method: str, path: str, params: dict | None, response: requests.Response
    ) -> ApiError:
        status = response.status_code
        text = close_error_text(_json_or_none(response))
        where = f"{method} /{path}"
        if status == 401:
            return AuthenticationError(
                f"Close refused the API key (HTTP 401 on {where}); check "
                "'api_key' in the config: it is wrong, revoked or for another "
                "organisation.",
                status,
                path,
            )

        if text is None:
            message = f"Close answered HTTP {status} on {where} with no error text"
        else:
            message = self._redact(f"Close answered HTTP {status} on {where}: {text}")
        if status == 403:
            return AccessDeniedError(message, status, path)
        if status == 404:
            deleted = text is not None and "deleted" in text.lower()
            cls = DeletedDocumentError if deleted else NotFoundError
            return cls(message, status, path)
        if status == 400 and is_skip_cap(text, params):
            return SkipCapError(message, status, path)
        return ApiError(message, status, path)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = (self._api_key, "")  # Close: key as Basic user name
            session.headers.update(self._headers)
            _read_environment_once(session, self._base_url)
            self._local.session = session
            with self._lock:
                self._sessions.add(session)
        return session

    def _drop_session(self) -> None:
        session = getattr(self._local, "session", None)
        if session is None:
            return
        self._local.session = None
        with self._lock:
            self._sessions.discard(session)
        session.close()

    # --- rate limits -------------------------------------------------------

    def _enter_group(self, group: str) -> _Group:
        """Wait while the group is held, then count the request in flight.
        NB: one step under the lock: a request that passed the wait but was
        not yet counted would be missing from the reserve of a response
        that sets a hold meanwhile, and could meet a 429 (bench: 1 in 245
        at concurrency 6)."""
        while True:
            with self._lock:
                state = self._groups.setdefault(group, _Group())
                now = self._monotonic()
                held = state.ready_at - now
                seconds = max(held, state.pacer.wait(now))
                if seconds <= 0:
                    state.in_flight += 1
                    state.senders = max(state.senders, state.in_flight)
                    state.pacer.sent(now)
                    return state
                reason = state.reason
                # One line per hold, by the first thread to meet it: the
                # others wait out the same one.
                announce = (
                    held > 0 and not state.quiet and state.announced != state.ready_at
                )
                if announce:
                    state.announced = state.ready_at
            # Pacing waits come with nearly every request at a full budget:
            # only the holds (a spent budget, a 429) are worth a line.
            if announce:
                LOGGER.info("Waiting %.3f s for Close's rate limit: %s", held, reason)
            self._sleep(seconds)

    def _leave_group(self, state: _Group) -> None:
        with self._lock:
            state.in_flight -= 1

    def _note_budget(
        self, group: str, state: _Group, response: requests.Response
    ) -> None:
        budget = parse_budget(response.headers)
        if budget.remaining is None or budget.reset is None:
            return
        if budget.reset > MAX_RATE_LIMIT_WAIT:
            return  # not a window to pace on; a 429 would say what Close means

        reason = f"rate-limit budget of /{group}/ spent ({budget.remaining} left)"
        # The floor is for a budget that is spent. With requests left, the
        # ones in flight spend them and the window rolls over at `reset`, so
        # the wait is that, however short: waiting the floor there cost a
        # quarter second in most windows at concurrency 6 (bench/RESULTS.md).
        floor = SPENT_BUDGET_FLOOR if budget.remaining <= 0 else 0.0
        ready_at = self._monotonic() + max(budget.reset, floor)

        # Until the budget's window is known, every other thread sending to
        # this group may spend one request of the budget before it reads an
        # answer: keep that many in reserve. NB: the most ever in flight, not
        # the number in flight now: a thread between two requests (writing
        # its page) sends again without asking (bench: the odd 429 at
        # concurrency 6). Once the pacer knows the window it keeps this
        # tap's own requests within the budget, and only a spent budget
        # holds, without a line: at full pace the tap's own last request of
        # each window spends it, and a line a second would be noise. Held
        # under the lock, so no request slips out in between.
        with self._lock:
            state.pacer.learn(budget.limit, budget.remaining, budget.reset)
            reserve = 0 if state.pacer.known else state.senders - 1
            if budget.remaining <= reserve:
                _hold(state, ready_at, reason, quiet=state.pacer.known)

    def _hold_group(self, group: str, seconds: float, reason: str) -> None:
        ready_at = self._monotonic() + max(seconds, MIN_RATE_LIMIT_WAIT)
        with self._lock:
            _hold(self._groups.setdefault(group, _Group()), ready_at, reason)


def _hold(state: _Group, ready_at: float, reason: str, quiet: bool = False) -> None:
    # Only ever later: a shorter hold must not cut a longer one short.
    if ready_at >= state.ready_at:
        state.ready_at = ready_at
        state.reason = reason
        state.quiet = quiet


def _log_request_time(started: float, tags: dict[str, Any], status: str) -> None:
    # The line singer's http_request_timer writes: the same type, metric,
    # tags (endpoint, http_status_code when answered, status) and seconds.
    tags[metrics.Tag.status] = status
    seconds = time.monotonic() - started
    point = metrics.Point("timer", metrics.Metric.http_request_duration, seconds, tags)
    metrics.log(METRICS_LOGGER, point)


def _read_environment_once(session: requests.Session, base_url: str) -> None:
    """Take the proxy and CA bundle settings from the environment now, as
    requests would on every request. NB: requests scans os.environ twice per
    request for them (a quarter of its CPU per request, profiled); every URL
    here shares base_url's host, so the answer does not change."""
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def _prepare(
    session: requests.Session,
    method: str,
    url: str,
    params: dict | None,
    body: dict | None,
) -> requests.PreparedRequest:
    """The request Session.request would send, prepared without merging the
    session's settings into it on every call.

    NB: Session.prepare_request merges headers, cookies, auth and hooks per
    request through requests' generic merge_setting, whose Mapping check is
    a typing.Protocol isinstance: 0.1 to 0.2 ms of CPU a request, measured
    against the emulator. The session's headers and auth are set once in
    `_session` and never change, so they are taken as they are; its cookies
    (a load balancer's, say) are copied in, as requests does. NB: the
    session's `params` and a .netrc are not read (trust_env is off and the
    tap sets no session params): set either and it would be ignored here."""
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=method,
        url=url,
        headers=session.headers,
        params=params,
        json=body,
        auth=session.auth,
        cookies=session.cookies.copy() if session.cookies else None,
        hooks=session.hooks,
    )
    return prepared


def _group_of(path: str) -> str:
    # Close budgets requests per endpoint group; the first path segment is
    # the finest grouping the tap can know ("activity", "lead", "event").
    return path.strip("/").split("/", 1)[0]


def _read_whole_body(response: requests.Response) -> None:
    """Read the body in one go, where `response.content` finds it.

    NB: `.content` reads a body in 10 KiB pieces through three generators,
    about a third of a request's CPU for a 600 KB page of leads. This relies
    on requests keeping the body in `_content` (as it has since 1.0). An
    error while reading leaves the connection closed, not back in the pool."""
    try:
        response._content = response.raw.read(decode_content=True)
        response._content_consumed = True
    finally:
        response.close()


def _parse_body(method: str, path: str, response: requests.Response) -> dict:
    # NB: a 200 whose body was cut short reads as invalid JSON; repeat it.
    try:
        body = _read_json(response)
    except ValueError:
        raise RetryableError(
            f"Close answered {method} /{path} with a body that is not complete JSON"
        ) from None
    if not isinstance(body, dict):
        raise RetryableError(
            f"Close answered {method} /{path} with JSON that is not an object"
        )
    return body


def _check_page(method: str, path: str, body: dict) -> None:
    # NB: a page without its `data` list would otherwise read as an empty
    # last page, and the stream's bookmark would pass every record after it.
    data = body.get("data")
    if type(data) is not list:
        raise RetryableError(
            f"Close answered {method} /{path} with a page that has no 'data' list "
            f"(keys: {', '.join(sorted(body)[:8]) or 'none'})"
        )
    if not all(type(record) is dict for record in data):
        raise RetryableError(
            f"Close answered {method} /{path} with a page whose 'data' holds "
            "something other than objects"
        )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return _read_json(response)
    except ValueError:
        return None


def _read_json(response: requests.Response) -> Any:
    try:
        return codec.loads(response.content)
    except ValueError:
        # requests also reads a body in a charset other than UTF-8 that the
        # headers name or that it detects.
        return response.json()


def parse_budget(headers: Mapping[str, str]) -> Budget:
    """Read `RateLimit: limit=.., remaining=.., reset=..` or the older
    `X-Rate-Limit-Remaining` / `X-Rate-Limit-Reset` pair (names in any case)."""
    headers = CaseInsensitiveDict(headers)
    fields = dict(
        (name.lower(), value)
        for name, value in _RATELIMIT_FIELD.findall(headers.get("RateLimit", ""))
    )
    remaining = fields.get("remaining", headers.get("X-Rate-Limit-Remaining"))
    reset = fields.get("reset", headers.get("X-Rate-Limit-Reset"))
    limit = fields.get("limit", headers.get("X-Rate-Limit-Limit"))
    return Budget(_to_int(remaining), _to_seconds(reset), _to_int(limit))


def rate_limit_wait(headers: Mapping[str, str], body: Any) -> float | None:
    """Seconds a 429 asks us to wait: the longest of `Retry-After`, the
    RateLimit (or X-Rate-Limit) reset and the body's `error.rate_reset`, as
    they are roundings of one reset time. None when Close names none."""
    headers = CaseInsensitiveDict(headers)
    candidates = [
        parse_budget(headers).reset,
        _to_seconds(headers.get("Retry-After")),
        _body_rate_reset(body),
    ]
    given = [seconds for seconds in candidates if seconds is not None]
    return max(given) if given else None


def _body_rate_reset(body: Any) -> float | None:
    # Close's documented shape nests it under "error"; the original tap read
    # a top-level key, so accept both.
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and "rate_reset" in error:
        return _to_seconds(error["rate_reset"])
    return _to_seconds(body.get("rate_reset"))


def _to_int(value: Any) -> int | None:
    seconds = _to_seconds(value)
    return None if seconds is None else int(seconds)


def _to_seconds(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None  # e.g. an HTTP-date Retry-After: fall back to other hints
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def close_error_text(body: Any) -> str | None:
    """Close's own words from an error body: `error` (a string, or an object
    with a `message`), else `errors` and `field-errors`. None for no JSON."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        return str(error.get("message") or json.dumps(error, sort_keys=True))

    parts = [str(item) for item in body.get("errors") or []]
    field_errors = body.get("field-errors")
    if isinstance(field_errors, dict):
        parts += [f"{field}: {text}" for field, text in field_errors.items()]
    return "; ".join(parts) or None


def is_skip_cap(text: str | None, params: Mapping[str, Any] | None) -> bool:
    """Whether a 400's text is Close's max_skip refusal. Its wording has been
    "... (max_skip = N) ..." and, by Airbyte's filter, also a validation-style
    "less than or equal to"; the latter counts only when about `_skip`."""
    if not text:
        return False
    if "max_skip = " in text or "max_skip=" in text:
        return True
    skipping = bool(params) and str(params.get("_skip", "0")) not in ("", "0")
    return "less than or equal to" in text and ("skip" in text.lower() or skipping)


__all__ = [
    "Budget",
    "CloseClient",
    "RetryPolicy",
    "close_error_text",
    "is_skip_cap",
    "parse_budget",
    "rate_limit_wait",
]
