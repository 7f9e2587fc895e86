"""The command line as a user runs it: bad files, flags, --about, --version.
Each runs `tap-closeio` as a subprocess and reads its exit code and output."""

import json
import os
import subprocess
import sys

import pytest

from tap_closeio import __version__

KEY = "api_CLIFILES_7d1e0b55"


def run_tap(*args, env=None, cwd=None):
    """Run the tap's entry point with only the given TAP_CLOSEIO_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLOSEIO_")}
    return subprocess.run(
        [sys.executable, "-m", "tap_closeio.cli", *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def config_path(tmp_path):
    # A closed loopback port: these runs must fail before any request.
    config = {
        "api_key": KEY,
        "start_date": "2024-01-01",
        "base_url": "http://127.0.0.1:9/",
    }
    return write(tmp_path, "config.json", json.dumps(config))


def assert_one_critical_line(result, *fragments):
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CRITICAL ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert KEY not in result.stderr


def test_a_missing_config_file_is_one_critical_line(tmp_path):
    missing = str(tmp_path / "nope.json")

    result = run_tap("--config", missing)

    assert_one_critical_line(result, f"The config file {missing} does not exist.")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"api_key": "x",', "is not valid JSON"),
        ("", "is empty"),
        ('["api_key"]', "must hold a JSON object"),
        ("null", "must hold a JSON object"),
    ],
)
def test_a_config_file_that_is_not_a_json_object_is_refused(tmp_path, text, problem):
    path = write(tmp_path, "config.json", text)

    result = run_tap("-c", path)

    assert_one_critical_line(result, path, problem)


def test_a_config_error_names_the_key(tmp_path):
    path = write(tmp_path, "config.json", json.dumps({"api_key": KEY}))

    result = run_tap("-c", path)

    assert_one_critical_line(result, "required key 'start_date'")


def test_a_non_https_base_url_is_refused_before_any_request(tmp_path):
    config = {
        "api_key": KEY,
        "start_date": "2024-01-01",
        "base_url": "http://example.com/",
    }
    path = write(tmp_path, "config.json", json.dumps(config))

    result = run_tap("-c", path, "--discover")

    assert_one_critical_line(result, "'base_url'", "not https")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON: Expecting property name"),
        ("[]", "must hold a JSON object"),
        ('"bookmarks"', "must hold a JSON object"),
        (
            '{"type": "STATE", "value": {}}\n{"type": "STATE", "value": {}}\n',
            "is not valid JSON: Extra data at line 2 column 1. Save only the "
            "last STATE message's value (or line).",
        ),
    ],
)
def test_a_bad_state_file_is_refused(tmp_path, config_path, text, problem):
    state = str(tmp_path / "state.json")
    if text is not None:
        write(tmp_path, "state.json", text)

    result = run_tap("-c", config_path, "--state", state)

    assert_one_critical_line(result, f"The state file {state}", problem)


@pytest.mark.parametrize("flag", ["--catalog", "--properties", "-p"])
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "does not exist"),
        ("{", "is not valid JSON"),
        ('{"streams": {}}', 'a "streams" list'),
        ("[]", 'a "streams" list'),
    ],
)
def test_a_bad_catalog_file_is_refused(tmp_path, config_path, flag, text, problem):
    catalog = str(tmp_path / "catalog.json")
    if text is not None:
        write(tmp_path, "catalog.json", text)

    result = run_tap("-c", config_path, flag, catalog)

    assert_one_critical_line(result, f"The catalog file {catalog}", problem)


def test_catalog_wins_over_properties(tmp_path, config_path):
    good = write(tmp_path, "properties.json", '{"streams": []}')
    bad = write(tmp_path, "catalog.json", "{")

    result = run_tap("-c", config_path, "--properties", good, "--catalog", bad)

    assert result.returncode == 1
    assert f"CRITICAL The catalog file {bad} is not valid JSON" in result.stderr


def test_env_only_config_names_the_missing_variable(tmp_path):
    result = run_tap("--discover", env={"TAP_CLOSEIO_START_DATE": "2024-01-01"})

    assert_one_critical_line(result, "'api_key'", "TAP_CLOSEIO_API_KEY")


@pytest.mark.parametrize("args", [(), ("--discover",), ("--test",)])
def test_no_config_at_all_says_how_to_give_one(args):
    result = run_tap(*args)

    assert_one_critical_line(
        result,
        "No config: pass --config FILE (a JSON object with 'api_key' and "
        "'start_date'), or set TAP_CLOSEIO_API_KEY and TAP_CLOSEIO_START_DATE; "
        "tap-closeio --help lists the options.",
    )


def test_usage_errors_exit_2_through_argparse():
    result = run_tap("--bogus")

    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr


def test_format_accepts_only_json_or_markdown():
    result = run_tap("--about", "--format", "yaml")

    assert result.returncode == 2


def test_version_prints_the_package_version():
    result = run_tap("--version")

    assert (result.returncode, result.stdout) == (0, f"tap-closeio {__version__}\n")


def test_about_json_needs_no_config(tmp_path):
    result = run_tap("--about", cwd=tmp_path)

    assert result.returncode == 0
    about = json.loads(result.stdout)
    assert about["name"] == "tap-closeio"
    assert about["version"] == __version__
    assert about["capabilities"] == [
        "catalog",
        "properties",
        "discover",
        "state",
        "about",
        "test",
    ]
    settings = about["settings"]
    assert settings["required"] == ["api_key", "start_date"]
    assert settings["properties"]["api_key"] == {
        "type": "string",
        "description": settings["properties"]["api_key"]["description"],
        "secret": True,
        "writeOnly": True,
    }
    assert settings["properties"]["date_window"]["default"] == 15
    assert settings["properties"]["base_url"]["default"] == (
        "https://api.close.com/api/v1/"
    )
    assert [s["name"] for s in about["streams"]] == [
        "custom_fields",
        "leads",
        "activities",
        "tasks",
        "users",
        "event_log",
    ]


def test_about_markdown_lists_settings_and_streams():
    result = run_tap("--about", "--format", "markdown")

    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "# `tap-closeio`"
    assert "| api_key | yes |  |" in result.stdout
    assert "| date_window | no | 15 |" in result.stdout
    assert "| activities | `/activity/` | id | date_created |" in lines
    assert "* `test`" in lines


def test_the_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "tap-closeio")

    result = subprocess.run([script, "--version"], capture_output=True, text=True)

    assert result.stdout == f"tap-closeio {__version__}\n"


def test_an_empty_state_file_is_refused_not_read_as_no_state(tmp_path, config_path):
    # What `tap ... > state.json` leaves behind when the run fails at once.
    state = write(tmp_path, "state.json", "")

    result = run_tap("--config", config_path, "--state", state)

    assert_one_critical_line(result, f"The state file {state} is empty")


def test_a_bad_bookmark_names_the_state_file(tmp_path, config_path):
    bookmarks = {"leads": {"date_updated": "yesterday"}}
    state = write(tmp_path, "state.json", json.dumps({"bookmarks": bookmarks}))

    result = run_tap("--config", config_path, "--state", state)

    assert_one_critical_line(
        result,
        f"The state file {state}: bookmarks.leads.date_updated is not an "
        "ISO 8601 date-time: 'yesterday'",
    )


def test_a_future_bookmark_is_refused(tmp_path, config_path):
    bookmarks = {"tasks": {"date_updated": "2999-01-01T00:00:00Z"}}
    state = write(tmp_path, "state.json", json.dumps({"bookmarks": bookmarks}))

    result = run_tap("--config", config_path, "--state", state)

    assert_one_critical_line(result, "bookmarks.tasks.date_updated", "in the future")


def test_a_whole_state_message_saved_as_the_state_file_is_unwrapped(tmp_path):
    from datetime import datetime, timezone

    from tap_closeio.cli import _load_state

    value = {"bookmarks": {"leads": {"date_updated": "2024-04-30T10:00:00Z"}}}
    path = write(tmp_path, "state.json", json.dumps({"type": "STATE", "value": value}))

    assert _load_state(path, datetime(2024, 5, 1, tzinfo=timezone.utc)) == value
