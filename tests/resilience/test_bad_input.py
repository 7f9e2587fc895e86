"""Bad input to the tap-closeio command: state, catalog and config files of
the wrong shape, a revoked key, a stream Close refuses. Each ends with one
clear line, the right exit code, nothing wrong on stdout, and no key shown."""

import base64
import json

import pytest
from resilience_support import STREAMS, recent_now, run_tap, sync_args, write_json

KEY = "api_RESILIENCE_5ec2e7_badinput"
SECRETS = (KEY, base64.b64encode(f"{KEY}:".encode()).decode())


@pytest.fixture(scope="module")
def emu():
    from close_emulator import Emulator

    emulator = Emulator(seed=4, size="tiny", now=recent_now(), api_key=KEY).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def config(emu):
    emu.clear_faults()
    emu.clear_requests()
    return {"api_key": KEY, "start_date": "2020-01-01", "base_url": emu.base_url}


def assert_refused(run, emu, *fragments: str) -> None:
    """Exit 1, nothing on stdout, one CRITICAL line naming the problem, no
    request sent to Close, the key nowhere."""
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.splitlines() == run.stderr_lines("CRITICAL "), run.stderr
    assert len(run.stderr_lines("CRITICAL ")) == 1
    for fragment in fragments:
        assert fragment in run.stderr
    assert emu.requests == []
    assert_no_secret(run)


def assert_no_secret(run) -> None:
    for secret in SECRETS:
        assert secret not in run.stdout
        assert secret not in run.stderr


def entry(stream: str, selected: bool = True, **fields) -> dict:
    return {
        "tap_stream_id": stream,
        "stream": stream,
        "schema": {"type": "object", "properties": {}},
        "key_properties": ["id"],
        "metadata": [{"breadcrumb": [], "metadata": {"selected": selected}}],
        **fields,
    }


# --- state files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"bookmarks": []}, "state.json: bookmarks must be an object of streams"),
        ({"bookmarks": "leads"}, "state.json: bookmarks must be an object of streams"),
        ({"bookmarks": {"leads": "2024-01-01"}}, "bookmarks.leads must be an object"),
        (
            {"bookmarks": {"leads": {"date_updated": "last tuesday"}}},
            "bookmarks.leads.date_updated is not an ISO 8601 date-time",
        ),
        (
            {"bookmarks": {"activities": {"date_created": "2024-13-01T00:00:00Z"}}},
            "bookmarks.activities.date_created is not an ISO 8601 date-time",
        ),
        (
            {"bookmarks": {"tasks": {"date_updated": 1714521600}}},
            "bookmarks.tasks.date_updated is not an ISO 8601 date-time",
        ),
        (
            {"bookmarks": {"event_log": {"date_updated": ""}}},
            "bookmarks.event_log.date_updated is not an ISO 8601 date-time",
        ),
        (
            {"bookmarks": {"leads": {"date_updated": "2024-01-01", "offset": 5}}},
            "bookmarks.leads.offset must be an object",
        ),
        ({"currently_syncing": 3}, "currently_syncing must be a stream name or null"),
    ],
    ids=lambda value: json.dumps(value)[:40] if isinstance(value, dict) else "",
)
def test_a_state_of_the_wrong_shape_is_refused_before_any_request(
    emu, config, tmp_path, state, problem
):
    run = run_tap(sync_args(tmp_path, config, state), tmp_path)

    assert_refused(run, emu, problem)


def test_a_bookmark_under_another_key_is_warned_about_once_naming_the_file(
    emu, config, tmp_path
):
    state = {"bookmarks": {"leads": {"updated_at": "2024-01-01T00:00:00Z"}}}

    run = run_tap(sync_args(tmp_path, config, state), tmp_path)

    assert run.returncode == 0, run.stderr_lines("CRITICAL")
    assert run.stderr_lines("WARNING ") == [
        f"WARNING The state file {tmp_path / 'state.json'}: bookmarks.leads has "
        "no 'date_updated' (found updated_at); leads syncs from start_date"
    ]
    assert run.ids("leads") == {lead["id"] for lead in emu.objects("lead")}


def test_an_activities_bookmark_of_year_one_syncs_from_start_date(
    emu, config, tmp_path
):
    state = {"bookmarks": {"activities": {"date_created": "0001-01-01T00:00:00Z"}}}

    run = run_tap(sync_args(tmp_path, config, state), tmp_path)

    assert run.returncode == 0, run.stderr_lines("CRITICAL")
    assert run.ids("activities") == {a["id"] for a in emu.objects("activity")}


def test_a_bookmark_at_the_end_of_time_is_not_an_unexpected_error(
    emu, config, tmp_path
):
    state = {"bookmarks": {"activities": {"date_created": "9999-12-31T23:59:59Z"}}}

    run = run_tap(sync_args(tmp_path, config, state), tmp_path)

    assert "Unexpected error" not in run.stderr
    if run.returncode != 0:
        assert_refused(run, emu, "bookmarks.activities")


# --- catalog files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("catalog", "problem"),
    [
        ({"streams": [entry("deals")]}, "names stream 'deals', which this tap"),
        ({"streams": ["users"]}, "Catalog stream #1 is not a JSON object"),
        ({"streams": [{"schema": {}}]}, "has no 'tap_stream_id' or 'stream'"),
        (
            {"streams": [entry("users", metadata="selected")]},
            "Catalog stream 'users': 'metadata' is not a list",
        ),
        (
            {"streams": [entry("users", selected="yes")]},
            "Catalog stream 'users': 'selected' must be true or false, not 'yes'.",
        ),
        (
            {
                "streams": [
                    entry(
                        "leads",
                        metadata=[
                            {"breadcrumb": [], "metadata": {"selected": True}},
                            {
                                "breadcrumb": ["properties", "name"],
                                "metadata": {"selected": 0},
                            },
                        ],
                    )
                ]
            },
            "Catalog stream 'leads': 'selected' at ['properties', 'name'] must be "
            "true or false, not 0.",
        ),
    ],
    ids=["unknown", "strings", "nameless", "metadata", "yes", "field-zero"],
)
def test_a_catalog_of_the_wrong_shape_is_refused_before_any_request(
    emu, config, tmp_path, catalog, problem
):
    args = sync_args(tmp_path, config)
    args += ["--catalog", write_json(tmp_path / "catalog.json", catalog)]

    run = run_tap(args, tmp_path)

    assert_refused(run, emu, problem)


def test_an_unknown_stream_left_unselected_is_ignored_with_one_warning(
    emu, config, tmp_path
):
    # A catalog kept from another tap or version: only selecting is a mistake.
    catalog = {"streams": [entry("users"), entry("deals", selected=False)]}
    args = sync_args(tmp_path, config)
    args += ["--catalog", write_json(tmp_path / "catalog.json", catalog)]

    run = run_tap(args, tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stderr_lines("WARNING ") == [
        "WARNING The catalog names stream 'deals', which this tap does not have; "
        "known streams: custom_fields, leads, activities, tasks, users, event_log. "
        "It is not selected: ignored."
    ]
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} == {"users"}
    assert len(records) == len(emu.objects("user"))


# --- config files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"api_key": 12345}, "Config 'api_key' must be a non-empty string."),
        ({"api_key": "  "}, "Config 'api_key' must be a non-empty string."),
        ({"start_date": "yesterday"}, "Config 'start_date' 'yesterday' is not"),
        ({"concurrency": "0"}, "Config 'concurrency' must be a whole number"),
        (
            {"concurrency": 1000},
            "Config 'concurrency' must be a whole number from 1 to 64, got 1000.",
        ),
        (
            {"date_window": 1000000000},
            "Config 'date_window' is 1000000000, more than the largest it may be "
            "(36500, a hundred years).",
        ),
        (
            {"activities_window_seconds": "1e30"},
            "Config 'activities_window_seconds' is '1e30', more than the largest",
        ),
        (
            {"start_date": "0001-01-01T00:00:00+05:00"},
            "Config 'start_date' '0001-01-01T00:00:00+05:00' is not an ISO 8601 "
            "date or date-time within years 1 to 9999 UTC",
        ),
        (
            {"api_key": "ключ"},
            "Config 'api_key' holds characters no Close API key has",
        ),
        (
            {"user_agent": "etl\r\nX-Evil: 1"},
            "Config 'user_agent' must be one line of printable ASCII, got "
            "'etl\\r\\nX-Evil: 1'.",
        ),
        (
            {"base_url": "http://127.0.0.1:99999/api/v1/"},
            "has a port that is not a number from 0 to 65535.",
        ),
        ({"request_timeout": "soon"}, "Config 'request_timeout' must be a positive"),
        ({"base_url": "ftp://127.0.0.1/"}, "is not an http(s) URL"),
        ({"base_url": "http://10.1.2.3/api/v1/"}, "not https"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else "",
)
def test_a_config_with_a_bad_value_is_refused_naming_the_key(
    emu, config, tmp_path, changes, problem
):
    run = run_tap(sync_args(tmp_path, {**config, **changes}), tmp_path)

    assert_refused(run, emu, problem)


def test_a_huge_date_window_is_refused_or_honoured(emu, config, tmp_path):
    run = run_tap(sync_args(tmp_path, {**config, "date_window": "100000000"}), tmp_path)

    assert "Unexpected error" not in run.stderr
    if run.returncode != 0:
        assert_refused(run, emu, "date_window")


def test_a_start_date_of_year_one_reads_every_lead(emu, config, tmp_path):
    args = sync_args(tmp_path, {**config, "start_date": "0001-01-01"})
    catalog = {"streams": [entry("leads")]}
    args += ["--catalog", write_json(tmp_path / "catalog.json", catalog)]

    run = run_tap(args, tmp_path)

    assert run.returncode == 0, run.stderr_lines("CRITICAL")
    assert run.ids("leads") == {lead["id"] for lead in emu.objects("lead")}


# --- Close refusing ------------------------------------------------------------


def test_a_revoked_key_fails_on_the_first_request_without_retries(
    emu, config, tmp_path
):
    run = run_tap(sync_args(tmp_path, {**config, "api_key": KEY + "-old"}), tmp_path)

    assert run.returncode == 1
    assert [(r.path, r.status) for r in emu.requests] == [
        ("/api/v1/custom_field/lead/", 401)
    ]
    assert run.stderr_lines("CRITICAL") == [
        "CRITICAL Close refused the API key (HTTP 401 on GET /custom_field/lead/); "
        "check 'api_key' in the config: it is wrong, revoked or for another "
        "organisation."
    ]
    assert not run.stderr_lines("ERROR") and "Traceback" not in run.stderr
    assert [m["type"] for m in run.messages] == ["STATE", "SCHEMA"]
    assert run.messages[0]["value"] == {
        "currently_syncing": "custom_fields",
        "bookmarks": {},
    }
    assert_no_secret(run)


@pytest.mark.parametrize("refused", ["leads", "activities", "tasks", "event_log"])
def test_a_403_on_one_stream_warns_and_every_other_stream_syncs(
    emu, config, tmp_path, refused
):
    path = {
        "leads": "lead/",
        "activities": "activity/",
        "tasks": "task/",
        "event_log": "event/",
    }[refused]
    clean = run_tap(sync_args(tmp_path, config), tmp_path)
    emu.clear_requests()
    emu.add_fault(
        "/api/v1/" + path,
        status=403,
        times=None,
        body={"error": "This API key may not read this resource."},
    )

    run = run_tap(sync_args(tmp_path, {**config, "concurrency": 1}), tmp_path)

    assert run.returncode == 0, run.stderr_lines("CRITICAL")
    warnings = run.stderr_lines("WARNING")
    assert len(warnings) == 1 and warnings[0].startswith(f"WARNING {refused}: ")
    assert "HTTP 403" in warnings[0] and "may not read this resource" in warnings[0]
    # Not retried: no query asked twice (a worker thread may have started
    # the next activities window before the first 403 stopped them all).
    asked = [r for r in emu.requests if r.path == "/api/v1/" + path]
    assert {r.status for r in asked} == {403}
    assert len({r.query_string for r in asked}) == len(asked) <= 2
    assert run.ids(refused) == set()
    for stream in STREAMS:
        if stream != refused:
            assert run.ids(stream) == clean.ids(stream), stream
    final = run.last_state()
    assert final["currently_syncing"] is None
    assert refused not in final["bookmarks"]
    expected = dict(clean.last_state()["bookmarks"])
    del expected[refused]
    assert final["bookmarks"] == expected
    assert_no_secret(run)
