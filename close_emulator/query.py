"""Reading Close's list parameters: paging, date filters, orderings and the
lead search `query` language (the parts a tap sends)."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from close_emulator.timefmt import parse_value, record_moment, truncate_minute

OPS = ("gt", "gte", "lt", "lte")
MAX_LIMIT_MESSAGE = (
    "The limit you set is larger than the maximum limit for this resource "
    "(max_limit = {})."
)
MAX_SKIP_MESSAGE = (
    "The skip you set is larger than the maximum skip for this resource "
    "(max_skip = {}). Please refine your search query."
)


class BadRequest(Exception):
    """A 400 with Close's body; `body` is the JSON-ready dict."""

    def __init__(self, body: dict) -> None:
        super().__init__(str(body))
        self.body = body


def error(message: str) -> BadRequest:
    return BadRequest({"error": message})


def field_error(name: str, message: str) -> BadRequest:
    return BadRequest({"errors": [], "field-errors": {name: message}})


def parse_int(params: dict, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise field_error(name, "Not a valid integer.") from None
    if value < 0:
        raise field_error(name, "Must be greater than or equal to 0.")
    return value


def page_bounds(params: dict, max_limit: int, max_skip: int) -> tuple[int, int]:
    """(_skip, _limit) with Close's caps: 400s with its messages above them."""
    limit = parse_int(params, "_limit", min(100, max_limit))
    if limit > max_limit:
        raise error(MAX_LIMIT_MESSAGE.format(max_limit))
    skip = parse_int(params, "_skip", 0)
    if skip > max_skip:
        raise error(MAX_SKIP_MESSAGE.format(max_skip))
    return skip, limit


@dataclass(frozen=True)
class DateFilter:
    """One `<field>__<op>=<value>` condition, precision `minute` or exact."""

    field: str
    op: str
    value: datetime
    minute: bool = False

    def accepts(self, record: dict) -> bool:
        moment = record_moment(record.get(self.field))
        if moment is None:
            return False
        if self.minute:
            moment = truncate_minute(moment)
        if self.op == "gt":
            return moment > self.value
        if self.op == "gte":
            return moment >= self.value
        if self.op == "lt":
            return moment < self.value
        return moment <= self.value


def date_filters(params: dict, fields: tuple[str, ...]) -> list[DateFilter]:
    """`date_created__gte=...` style parameters for the given fields; any ISO
    8601 value, naive read as UTC."""
    filters = []
    for name in fields:
        for op in OPS:
            raw = params.get(f"{name}__{op}")
            if raw is None:
                continue
            try:
                filters.append(DateFilter(name, op, parse_value(raw)))
            except ValueError:
                raise field_error(f"{name}__{op}", "Not a valid datetime.") from None
    return filters


def order_key(field_name: str) -> Callable[[dict], tuple]:
    """Sort key: the field's moment (missing first), then the id."""
    floor = datetime.min.replace(tzinfo=parse_value("2000-01-01").tzinfo)

    def key(record: dict) -> tuple:
        value = record.get(field_name)
        moment = record_moment(value)
        if moment is None and isinstance(value, (int, float)):
            return (floor, value, record.get("id", ""))
        return (moment or floor, 0, record.get("id", ""))

    return key


def parse_order(raw: str | None, allowed: set[str], default: str) -> tuple[str, bool]:
    """`_order_by` -> (field, descending); 400 for a field Close refuses."""
    value = raw or default
    field_name = value.lstrip("-")
    if field_name not in allowed:
        raise error(f"Invalid _order_by field: {field_name}")
    return field_name, value.startswith("-")


# The lead search language (deprecated by Close in 2022 but still served).

_TERM = re.compile(
    r"""\s*(?:
        sort:\s*(?P<sort>-?[\w.]+)
      | (?P<field>date_updated|date_created|updated|created)\s*
        (?P<op>>=|<=|>|<)\s*(?P<value>"[^"]*"|'[^']*'|[^\s"']+)
    )\s*""",
    re.VERBOSE,
)
_ALIASES = {"updated": "date_updated", "created": "date_created"}
_OP_NAMES = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


@dataclass
class LeadQuery:
    filters: list[DateFilter] = field(default_factory=list)
    sort: str | None = None
    descending: bool = False


def parse_lead_query(text: str) -> LeadQuery:
    """Parse the date comparisons and `sort:` of a lead `query`. Values are
    compared at minute precision: Close ignores the seconds (NB: noted in
    tap-closeio's source), so both sides are truncated to the minute."""
    parsed = LeadQuery()
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if not match or match.end() == position:
            raise error(f"Unsupported lead query term near: {text[position:]!r}")
        position = match.end()
        if match.group("sort"):
            name = match.group("sort")
            parsed.descending = name.startswith("-")
            parsed.sort = _ALIASES.get(name.lstrip("-"), name.lstrip("-"))
            continue
        parsed.filters.append(_lead_filter(match))
    return parsed


def _lead_filter(match: re.Match) -> DateFilter:
    name = _ALIASES.get(match.group("field"), match.group("field"))
    raw = match.group("value").strip("\"'")
    try:
        value = truncate_minute(parse_value(raw))
    except ValueError:
        raise error(f"Invalid date in lead query: {raw!r}") from None
    return DateFilter(name, _OP_NAMES[match.group("op")], value, minute=True)
