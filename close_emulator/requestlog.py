"""What the emulator was asked: one record per API request."""

from dataclasses import asdict, dataclass, field


@dataclass
class RequestRecord:
    """One API request. `query` keeps the last value of a repeated parameter;
    `query_string` is the raw text. `status` 0 means no response was sent."""

    method: str
    path: str
    query: dict[str, str]
    query_string: str
    status: int
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    body: str = field(default="", repr=False)

    def to_dict(self) -> dict:
        return asdict(self)
