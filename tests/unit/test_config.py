"""load_config: required keys, Stitch's string values, defaults with warnings,
TAP_CLOSEIO_* variables and the https rule."""

import logging
from datetime import datetime, timedelta, timezone

import pytest

from tap_closeio.config import (
    DEFAULT_BASE_URL,
    SETTINGS,
    load_config,
)
from tap_closeio.errors import ConfigError

KEY = "api_TESTKEY_9f3c1e"
BASE = {"api_key": KEY, "start_date": "2024-01-01T00:00:00Z"}


def config_with(**overrides):
    return load_config({**BASE, **overrides}, {})


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.WARNING, logger="tap_closeio.config")
    return caplog


def test_minimal_config_takes_every_default():
    config = load_config(BASE, {})

    assert config.api_key == KEY
    assert config.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert config.date_window_days == 15
    assert config.activities_window_seconds == 86400
    assert config.user_agent is None
    assert config.base_url == "https://api.close.com/api/v1/"
    assert config.concurrency == 6
    assert config.request_timeout == 30.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T00:00:00+05:00", datetime(2023, 12, 31, 19, tzinfo=timezone.utc)),
        (
            "2024-03-01T10:15:30.5Z",
            datetime(2024, 3, 1, 10, 15, 30, 500000, timezone.utc),
        ),
        ("2024-03-01T10:15:30", datetime(2024, 3, 1, 10, 15, 30, tzinfo=timezone.utc)),
    ],
)
def test_start_date_takes_any_iso_8601_form_as_aware_utc(value, expected):
    start_date = config_with(start_date=value).start_date

    assert start_date == expected
    assert start_date.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), (15, 15), ("15", 15), (7.0, 7), (" 4 ", 4)],
)
def test_date_window_accepts_whole_numbers_and_numeric_strings(
    value, expected, warnings
):
    assert config_with(date_window=value).date_window_days == expected
    assert warnings.records == []


@pytest.mark.parametrize("value", ["", 0, "0", "abc", -3, "-1", "2.5", True, [1]])
def test_date_window_falls_back_to_15_with_a_warning_naming_the_value(value, warnings):
    assert config_with(date_window=value).date_window_days == 15

    assert [r.levelname for r in warnings.records] == ["WARNING"]
    message = warnings.records[0].getMessage()
    assert "'date_window'" in message
    assert repr(value) in message
    assert "default 15" in message


def test_activities_window_seconds_accepts_a_numeric_string(warnings):
    assert (
        config_with(activities_window_seconds="3600").activities_window_seconds == 3600
    )
    assert warnings.records == []


@pytest.mark.parametrize("value", ["", 0, "0", "abc", -60])
def test_activities_window_seconds_falls_back_to_a_day_with_a_warning(value, warnings):
    config = config_with(activities_window_seconds=value)

    assert config.activities_window_seconds == 86400
    assert len(warnings.records) == 1
    assert "'activities_window_seconds'" in warnings.records[0].getMessage()
    assert repr(value) in warnings.records[0].getMessage()


@pytest.mark.parametrize("missing", ["api_key", "start_date"])
def test_a_missing_required_key_is_named(missing):
    raw = {k: v for k, v in BASE.items() if k != missing}

    with pytest.raises(ConfigError, match=f"required key '{missing}'"):
        load_config(raw, {})


@pytest.mark.parametrize("value", ["", "   ", 12345, ["k"]])
def test_a_malformed_api_key_is_refused_without_echoing_it(value):
    with pytest.raises(ConfigError) as raised:
        config_with(api_key=value)

    assert "'api_key'" in str(raised.value)
    assert str(value).strip() == "" or str(value) not in str(raised.value)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45", 20240101, ""])
def test_a_malformed_start_date_is_refused_naming_key_and_value(value):
    with pytest.raises(ConfigError, match="'start_date'") as raised:
        config_with(start_date=value)

    assert repr(value) in str(raised.value)


def test_the_api_key_never_appears_in_repr_or_errors():
    config = load_config(BASE, {})

    assert KEY not in repr(config)
    assert KEY not in str(config)
    with pytest.raises(ConfigError) as raised:
        config_with(start_date="nonsense", base_url="ftp://x")
    assert KEY not in str(raised.value)


def test_api_key_is_stripped_of_surrounding_whitespace():
    assert config_with(api_key=f"  {KEY}\n").api_key == KEY


def test_user_agent_is_kept_and_blank_means_none():
    assert config_with(user_agent="acme-etl ops@acme.test").user_agent == (
        "acme-etl ops@acme.test"
    )
    assert config_with(user_agent="").user_agent is None


# --- base_url ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://api.close.com/api/v1", "https://api.close.com/api/v1/"),
        ("https://api.close.com/api/v1/", "https://api.close.com/api/v1/"),
        ("https://close.example.com/x", "https://close.example.com/x/"),
        ("http://127.0.0.1:8080/api/v1/", "http://127.0.0.1:8080/api/v1/"),
        ("http://127.3.4.5/api/v1", "http://127.3.4.5/api/v1/"),
        ("http://localhost:9000/api/v1/", "http://localhost:9000/api/v1/"),
        ("http://[::1]:9000/api/v1/", "http://[::1]:9000/api/v1/"),
        ("", DEFAULT_BASE_URL),
    ],
)
def test_base_url_gets_a_trailing_slash_and_allows_http_only_on_loopback(
    value, expected
):
    assert config_with(base_url=value).base_url == expected


@pytest.mark.parametrize(
    "value",
    [
        "http://api.close.com/api/v1/",
        "http://10.0.0.5/api/v1/",
        "http://192.168.1.2/api/v1/",
        "http://128.0.0.1/api/v1/",
        "http://localhost.evil.test/api/v1/",
        "ftp://127.0.0.1/api/v1/",
        "api.close.com/api/v1/",
        "https:///api/v1/",
    ],
)
def test_a_base_url_that_is_not_https_or_loopback_is_refused(value):
    with pytest.raises(ConfigError, match="'base_url'"):
        config_with(base_url=value)


def test_a_base_url_carrying_credentials_is_refused_without_echoing_them():
    with pytest.raises(ConfigError, match="'base_url'") as raised:
        config_with(base_url=f"https://{KEY}:@api.close.com/api/v1/")

    assert KEY not in str(raised.value)


# --- concurrency and request_timeout -------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("8", 8), (None, 6)])
def test_concurrency_is_a_whole_number_of_at_least_one(value, expected):
    assert config_with(concurrency=value).concurrency == expected


@pytest.mark.parametrize("value", [0, "0", -2, "many", 1.5])
def test_a_bad_concurrency_is_a_config_error(value):
    with pytest.raises(ConfigError, match="'concurrency'"):
        config_with(concurrency=value)


@pytest.mark.parametrize(("value", "expected"), [(10, 10.0), ("2.5", 2.5)])
def test_request_timeout_is_a_positive_number_of_seconds(value, expected):
    assert config_with(request_timeout=value).request_timeout == expected


@pytest.mark.parametrize("value", [0, "-1", "soon", "nan", "inf", True])
def test_a_bad_request_timeout_is_a_config_error(value):
    with pytest.raises(ConfigError, match="'request_timeout'"):
        config_with(request_timeout=value)


# --- environment variables -------------------------------------------------


def test_every_setting_can_come_from_the_environment_alone():
    env = {
        "TAP_CLOSEIO_API_KEY": KEY,
        "TAP_CLOSEIO_START_DATE": "2024-02-01",
        "TAP_CLOSEIO_DATE_WINDOW": "3",
        "TAP_CLOSEIO_ACTIVITIES_WINDOW_SECONDS": "3600",
        "TAP_CLOSEIO_USER_AGENT": "env-agent",
        "TAP_CLOSEIO_BASE_URL": "http://127.0.0.1:5000/api/v1",
        "TAP_CLOSEIO_CONCURRENCY": "2",
        "TAP_CLOSEIO_REQUEST_TIMEOUT": "12.5",
    }

    config = load_config({}, env)

    assert config.api_key == KEY
    assert config.start_date == datetime(2024, 2, 1, tzinfo=timezone.utc)
    assert config.date_window_days == 3
    assert config.activities_window_seconds == 3600
    assert config.user_agent == "env-agent"
    assert config.base_url == "http://127.0.0.1:5000/api/v1/"
    assert config.concurrency == 2
    assert config.request_timeout == 12.5


def test_the_file_wins_over_the_environment():
    env = {"TAP_CLOSEIO_API_KEY": "api_from_env", "TAP_CLOSEIO_DATE_WINDOW": "9"}

    config = load_config({**BASE, "date_window": "4"}, env)

    assert config.api_key == KEY
    assert config.date_window_days == 4


def test_the_environment_fills_keys_the_file_leaves_out_or_nulls():
    env = {"TAP_CLOSEIO_START_DATE": "2024-05-05", "TAP_CLOSEIO_DATE_WINDOW": "9"}

    config = load_config({"api_key": KEY, "date_window": None}, env)

    assert config.start_date == datetime(2024, 5, 5, tzinfo=timezone.utc)
    assert config.date_window_days == 9


def test_an_empty_variable_counts_as_unset():
    with pytest.raises(ConfigError, match="required key 'api_key'"):
        load_config({}, {"TAP_CLOSEIO_API_KEY": "", "TAP_CLOSEIO_START_DATE": "2024"})


def test_variables_for_unrelated_tools_are_ignored():
    config = load_config(BASE, {"TAP_CLOSEIO_LOG_LEVEL": "DEBUG", "API_KEY": "x"})

    assert config.api_key == KEY


def test_the_config_must_be_an_object():
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(["api_key"], {})


def test_every_setting_has_an_env_var_named_after_it():
    assert [s.env_var for s in SETTINGS] == [
        "TAP_CLOSEIO_API_KEY",
        "TAP_CLOSEIO_START_DATE",
        "TAP_CLOSEIO_DATE_WINDOW",
        "TAP_CLOSEIO_ACTIVITIES_WINDOW_SECONDS",
        "TAP_CLOSEIO_USER_AGENT",
        "TAP_CLOSEIO_BASE_URL",
        "TAP_CLOSEIO_CONCURRENCY",
        "TAP_CLOSEIO_REQUEST_TIMEOUT",
        "TAP_CLOSEIO_OUTPUT_PROCESS",
    ]


def test_the_credentials_message_keeps_the_port():
    with pytest.raises(ConfigError) as raised:
        config_with(base_url=f"http://{KEY}:@127.0.0.1:8765/api/v1/")

    assert str(raised.value).endswith(": http://127.0.0.1:8765/api/v1/")


# --- output_process --------------------------------------------------------------


def test_output_process_is_on_by_default():
    config = load_config(BASE, {})

    assert config.output_process is True
    assert "output_process=True" in repr(config)


def test_output_process_is_a_boolean_setting_defaulting_to_true():
    (setting,) = [s for s in SETTINGS if s.name == "output_process"]

    assert (setting.kind, setting.default, setting.required) == ("boolean", True, False)


@pytest.mark.parametrize("value", [True, False])
def test_output_process_takes_json_booleans(value):
    assert config_with(output_process=value).output_process is value


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("on", True),
        ("On", True),
        ("  yes\t", True),
        ("false", False),
        ("FALSE", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("No", False),
        ("off", False),
        ("OFF", False),
        (" off \n", False),
    ],
)
def test_output_process_takes_the_words_from_its_variable(word, expected):
    config = load_config(BASE, {"TAP_CLOSEIO_OUTPUT_PROCESS": word})

    assert config.output_process is expected


@pytest.mark.parametrize(("word", "expected"), [("off", False), (" Yes ", True)])
def test_output_process_takes_the_words_from_the_file_too(word, expected):
    assert config_with(output_process=word).output_process is expected


def test_an_empty_output_process_variable_counts_as_unset():
    config = load_config(BASE, {"TAP_CLOSEIO_OUTPUT_PROCESS": ""})

    assert config.output_process is True


@pytest.mark.parametrize(
    ("value", "expected"), [(1, True), (0, False), ("", True), ("  ", True)]
)
def test_output_process_takes_one_zero_and_blank_in_the_file(value, expected):
    # 1 and 0 as some tools write booleans; a blank is the default, as for
    # the other settings.
    assert config_with(output_process=value).output_process is expected


def test_the_file_wins_over_the_output_process_variable():
    config = load_config(
        {**BASE, "output_process": False}, {"TAP_CLOSEIO_OUTPUT_PROCESS": "true"}
    )

    assert config.output_process is False


@pytest.mark.parametrize(
    "value", ["maybe", 2, -1, 1.0, "2", "y", "enabled", "tru e", [True]]
)
def test_a_bad_output_process_is_a_config_error_naming_key_and_value(value):
    with pytest.raises(ConfigError) as raised:
        config_with(output_process=value)

    assert str(raised.value) == (
        f"Config 'output_process' must be true or false, got {value!r}."
    )


@pytest.mark.parametrize("word", ["maybe", "2", "nope"])
def test_a_bad_output_process_variable_is_a_config_error(word):
    with pytest.raises(ConfigError, match="'output_process'") as raised:
        load_config(BASE, {"TAP_CLOSEIO_OUTPUT_PROCESS": word})

    assert repr(word) in str(raised.value)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("concurency", "concurrency"),
        ("start-date", "start_date"),
        ("request_timout", "request_timeout"),
        ("outputprocess", "output_process"),
    ],
)
def test_a_misspelt_setting_is_warned_about_with_the_one_meant(key, meant, warnings):
    config = load_config({**BASE, key: 1}, {})

    assert config.concurrency == 6
    assert [r.getMessage() for r in warnings.records] == [
        f"Config key {key!r} is not a setting of this tap and is ignored; "
        f"did you mean {meant!r}?"
    ]


def test_other_unknown_keys_are_listed_once_at_info(caplog):
    caplog.set_level(logging.INFO, logger="tap_closeio.config")

    load_config({**BASE, "frequency_in_minutes": 60, "tap_name": "close"}, {})

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "INFO",
            "Config keys this tap does not read (ignored): "
            "'frequency_in_minutes', 'tap_name'",
        )
    ]
