"""The /_emulator/ control routes, the close-emulator command, samples mode."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from emu_helpers import get, ids

from close_emulator.samples import samples_dir


def control(emu, method: str, route: str, body: object = None) -> requests.Response:
    url = emu.base_url.replace("/api/v1/", "/_emulator/") + route
    return requests.request(method, url, json=body, timeout=10)


def test_control_requests_and_clear(emulator_factory):
    emu = emulator_factory(size="tiny")
    get(emu, "user/", _limit=2)

    logged = control(emu, "GET", "requests").json()
    control(emu, "POST", "clear-requests")

    assert [(r["method"], r["path"], r["query"], r["status"]) for r in logged] == [
        ("GET", "/api/v1/user/", {"_limit": "2"}, 200)
    ]
    assert emu.requests == []


def test_control_clock_mutate_and_objects(emulator_factory):
    emu = emulator_factory(size="tiny", now="2024-05-01T12:00:00+00:00")

    moved = control(emu, "POST", "clock", {"advance": 60}).json()
    set_to = control(emu, "POST", "clock", {"now": "2024-06-01T00:00:00Z"}).json()
    summary = control(emu, "POST", "mutate", {"seed": 9}).json()
    leads = control(emu, "GET", "objects/lead").json()

    assert moved == {"now": "2024-05-01T12:01:00+00:00"}
    assert set_to == {"now": "2024-06-01T00:00:00+00:00"}
    assert emu.now.isoformat() == "2024-06-02T00:00:00+00:00"
    assert summary["lead"]
    assert leads == emu.objects("lead")
    assert control(emu, "POST", "clock", {}).status_code == 400


def test_control_faults(emulator_factory):
    emu = emulator_factory(size="tiny")

    control(emu, "POST", "faults", {"path_prefix": "/api/v1/user/", "status": 500})
    failed = get(emu, "user/").status_code
    control(emu, "POST", "faults", {"status": 502, "times": None})
    control(emu, "POST", "clear-faults")

    assert failed == 500
    assert get(emu, "user/").status_code == 200
    assert control(emu, "POST", "faults", {"kind": "bogus"}).status_code == 400


def test_control_add_update_delete(emulator_factory):
    emu = emulator_factory(size="empty")

    control(emu, "POST", "objects/lead", {"id": "lead_x", "name": "A"})
    control(emu, "POST", "objects/lead/lead_x", {"name": "B"})
    named = get(emu, "lead/lead_x/").json()["name"]
    control(emu, "DELETE", "objects/lead/lead_x")

    assert named == "B"
    assert emu.objects("lead") == []


def test_cli_help_lists_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "close_emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )

    for option in [
        "--port",
        "--seed",
        "--size",
        "--now",
        "--api-key",
        "--max-limit",
        "--max-skip",
        "--activity-order",
        "--rate-limit",
        "--rate-limit-style",
        "--latency",
        "--samples",
    ]:
        assert option in result.stdout


def test_cli_prints_its_url_first_and_serves():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "close_emulator",
            "--size",
            "tiny",
            "--api-key",
            "k1",
            "--rate-limit",
            "5/2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        url = line.split(" on ")[1].split(" ")[0]
        response = requests.get(url + "lead/", auth=("k1", ""), timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert line.startswith("Close API emulator listening on http://127.0.0.1:")
    assert line.endswith("/api/v1/ (api key: k1)")
    assert response.status_code == 200
    assert response.headers["RateLimit"].startswith("limit=5, remaining=4, reset=")


def test_cli_says_in_one_line_why_it_cannot_start():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        results = [
            subprocess.run(
                [sys.executable, "-m", "close_emulator", *args],
                capture_output=True,
                text=True,
                timeout=60,
            )
            for args in (["--size", "bogus"], ["--size", "tiny", "--port", str(port)])
        ]
    finally:
        taken.close()

    for result in results:
        assert result.returncode == 2
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("close-emulator: cannot start: ")
    assert "bogus" in results[0].stderr
    assert "Address already in use" in results[1].stderr


needs_samples = pytest.mark.skipif(
    not samples_dir().is_dir(), reason="../shared/close_samples is not here"
)


@needs_samples
def test_samples_mode_serves_the_files_as_they_are(emulator_factory):
    emu = emulator_factory(samples=True)
    files = sorted(Path(samples_dir(), "activity_call").glob("*.json"))
    texts = {json.loads(p.read_text())["id"]: p.read_text().strip() for p in files}

    body = get(emu, "activity/call/").text

    for text in texts.values():
        assert text in body
    assert len(ids(get(emu, "activity/call/"))) == len(texts)


@needs_samples
def test_samples_mode_covers_the_tap_endpoints(emulator_factory):
    emu = emulator_factory(samples=True)

    for path in [
        "lead/",
        "activity/",
        "task/",
        "user/",
        "custom_fields/lead/",
        "custom_field/opportunity/",
        "status/lead/",
        "pipeline/",
        "me/",
    ]:
        response = get(emu, path)
        assert response.status_code == 200, path
    events = get(emu, "event/").json()
    assert len(events["data"]) == len(list(Path(samples_dir(), "event").glob("*.json")))
    all_tasks = ids(get(emu, "task/", _type="all"))
    lead_tasks = ids(get(emu, "task/"))
    assert len(lead_tasks) < len(all_tasks)
