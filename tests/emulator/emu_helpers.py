"""Small HTTP helpers for the emulator's own tests."""

import requests


def client(emu, key: str | None = None) -> requests.Session:
    session = requests.Session()
    session.auth = (key if key is not None else emu.api_key, "")
    return session


def get(emu, path: str, **params: object) -> requests.Response:
    return client(emu).get(emu.base_url + path, params=params, timeout=10)


def ids(response: requests.Response) -> list[str]:
    return [record["id"] for record in response.json()["data"]]


def lead(rid: str, updated: str, created: str = "2024-04-01T00:00:00+00:00") -> dict:
    return {"id": rid, "name": rid, "date_created": created, "date_updated": updated}
