"""The command line: flags, reading the config, state and catalog files, exit
codes; the one place that turns a TapError into one CRITICAL line and exit 1."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import singer

from tap_closeio import __version__
from tap_closeio.client import CloseClient, RetryPolicy
from tap_closeio.config import SETTINGS, Config, load_config
from tap_closeio.errors import CatalogError, ConfigError, StateError, TapError

# NB: named outright, as `python -m tap_closeio.cli` runs this as __main__.
LOGGER = logging.getLogger("tap_closeio.cli")

NAME = "tap-closeio"
DESCRIPTION = (
    "Singer tap for Close (close.com): leads, activities, tasks, users, lead "
    "custom fields and the event log; a drop-in replacement for singer-io's "
    "tap-closeio."
)
CAPABILITIES = ["catalog", "properties", "discover", "state", "about", "test"]

# `--test` asks one cheap question; a dead host should not take 31 s of
# retries to say so.
TEST_POLICY = RetryPolicy(max_attempts=2, max_rate_limited=3)

LOG_LEVEL_VARIABLE = "TAP_CLOSEIO_LOG_LEVEL"
START_DATE_VAR = "TAP_CLOSEIO_START_DATE"


class Terminated(KeyboardInterrupt):
    """SIGTERM, from a scheduler stopping the run: a KeyboardInterrupt, so
    that every path that cleans up after Ctrl-C cleans up after it too."""


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Console entry point (`tap-closeio`). Returns the exit code."""
    _configure_logging()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help 0
        return exc.code if isinstance(exc.code, int) else 2

    secrets = [os.environ.get("TAP_CLOSEIO_API_KEY", "")]
    try:
        return _run(args, secrets)
    except BrokenPipeError:
        # The reader left (a target that failed, or `head`). Point stdout at
        # /dev/null so the interpreter's final flush does not complain again.
        _silence_stdout()
        LOGGER.error(
            "Stopped: stdout was closed by the program reading it (the target "
            "ended). Its last saved STATE is safe to resume from."
        )
        return 1
    except Terminated:
        LOGGER.critical(
            "Terminated (SIGTERM); the last STATE on stdout is safe to resume from"
        )
        return 143
    except KeyboardInterrupt:
        LOGGER.critical("Interrupted; the last STATE on stdout is safe to resume from")
        return 130
    except TapError as exc:
        LOGGER.critical("%s", _redact(str(exc), secrets))
        return 1
    except Exception as exc:
        LOGGER.critical(
            "Unexpected error, %s: %s (run with %s=DEBUG for the traceback)",
            type(exc).__name__,
            _redact(str(exc), secrets),
            LOG_LEVEL_VARIABLE,
        )
        LOGGER.debug("%s", _redact("".join(traceback.format_exc()), secrets))
        return 1


def _parser() -> argparse.ArgumentParser:
    # Mirrors singer.utils.parse_args (-c -s -p --catalog -d), which cannot
    # take --about or --test and insists on --config.
    parser = argparse.ArgumentParser(prog=NAME, description=DESCRIPTION)
    parser.add_argument("-c", "--config", help="config file (JSON)")
    parser.add_argument("-s", "--state", help="state file (JSON)")
    parser.add_argument("-p", "--properties", help="catalog file (legacy flag)")
    parser.add_argument("--catalog", help="catalog file (wins over --properties)")
    parser.add_argument(
        "-d", "--discover", action="store_true", help="print the catalog"
    )
    parser.add_argument("--about", action="store_true", help="describe the tap")
    parser.add_argument("--format", choices=("json", "markdown"), default="json")
    parser.add_argument("--test", action="store_true", help="check the connection")
    parser.add_argument("--version", action="store_true", help="print the version")
    return parser


def _run(args: argparse.Namespace, secrets: list[str]) -> int:
    if args.version:
        _write(f"{NAME} {__version__}\n")
        return 0
    if args.about:
        _write(render_about(args.format))
        return 0

    config = _load_config(args.config, secrets, for_test=args.test)

    if args.test:
        return _test_connection(config)
    with CloseClient(config) as client:
        if args.discover:
            return _discover(client, config)
        return _sync(client, config, args)


def _load_config(path: str | None, secrets: list[str], for_test: bool) -> Config:
    # `--config ENV` is singer-sdk's spelling of "settings from the
    # environment only"; the variables fill gaps in a file anyway.
    raw: Any = {}
    if path is None and not any(k.startswith("TAP_CLOSEIO_") for k in os.environ):
        raise ConfigError(
            "No config: pass --config FILE (a JSON object with 'api_key' and "
            "'start_date'), or set TAP_CLOSEIO_API_KEY and "
            "TAP_CLOSEIO_START_DATE; tap-closeio --help lists the options."
        )
    if path and path != "ENV":
        raw = read_json_file(path, "config", ConfigError)
        if not isinstance(raw, dict):
            raise ConfigError(f"The config file {path} must hold a JSON object.")

    # The connection check only needs the key and the URL; start_date matters
    # to a sync alone, so --test does not insist on it.
    if for_test and not raw.get("start_date") and not os.environ.get(START_DATE_VAR):
        raw = {**raw, "start_date": "1970-01-01T00:00:00Z"}

    # Known before validation, so that no later message can show it.
    if isinstance(raw.get("api_key"), str):
        secrets.append(raw["api_key"].strip())
    config = load_config(raw, os.environ)
    secrets.append(config.api_key)
    return config


def _test_connection(config: Config) -> int:
    with CloseClient(config, policy=TEST_POLICY) as client:
        try:
            client.get("me/", {"_fields": "id"})
        except TapError as exc:
            LOGGER.critical(
                "Connection check against Close at %s failed: %s",
                config.base_url,
                exc,
            )
            return 1
    _write(f"OK: Close at {config.base_url} accepted the API key.\n")
    return 0


def _discover(client: CloseClient, config: Config) -> int:
    from tap_closeio import discovery

    catalog = discovery.discover(client, config)
    _write(json.dumps(catalog, indent=2) + "\n")
    return 0


def _sync(client: CloseClient, config: Config, args: argparse.Namespace) -> int:
    catalog = _load_catalog(args.catalog, args.properties)
    state = _load_state(args.state, datetime.now(timezone.utc))

    from tap_closeio import sync
    from tap_closeio.output import InlineOutput, Output

    output: Output = InlineOutput()
    if config.output_process:
        from tap_closeio.output_process import OutputProcess

        output = OutputProcess()
    try:
        sync.run_sync(client, config, catalog, state, output=output)
    except BaseException:
        _close_after_failure(output)
        raise
    output.close()
    return 0


def _close_after_failure(output) -> None:
    # The run already failed: let what was written reach stdout, and report
    # the first failure, not a second one from the output.
    try:
        output.close()
    except BrokenPipeError:
        # The target is gone too: what is left in stdout's buffer cannot be
        # written, and the interpreter's own flush at exit would print an
        # "Exception ignored" line and exit 120 instead of this run's code.
        _silence_stdout()
    except (OSError, TapError):
        pass


def _load_catalog(catalog_path: str | None, properties_path: str | None) -> dict | None:
    if catalog_path and properties_path:
        LOGGER.info("Both --catalog and --properties given: using --catalog")
    path = catalog_path or properties_path
    if not path:
        return None

    catalog = read_json_file(path, "catalog", CatalogError)
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise CatalogError(
            f'The catalog file {path} must hold a JSON object with a "streams" list.'
        )
    return catalog


def _load_state(path: str | None, now: datetime) -> dict:
    if not path:
        return {}
    state = read_json_file(path, "state", StateError)
    if not isinstance(state, dict):
        raise StateError(f"The state file {path} must hold a JSON object.")

    # NB: a whole STATE message saved as the state file (easy to do by hand
    # from the tap's output) would otherwise read as "no bookmarks at all".
    if state.get("type") == "STATE" and isinstance(state.get("value"), dict):
        LOGGER.warning(
            "The state file %s holds a whole STATE message; using its value", path
        )
        state = state["value"]

    from tap_closeio.state import validate_state
    from tap_closeio.streams import STREAMS

    keys = {stream.name: stream.replication_key for stream in STREAMS}
    validate_state(state, keys, now=now, source=f"The state file {path}")
    return state


def read_json_file(path: str, what: str, error: type[TapError]) -> Any:
    """Parse a JSON file, turning every way it can fail into `error` with a
    message naming the file and the problem (never the file's content)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise error(f"The {what} file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise error(f"The {what} file {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise error(f"Cannot read the {what} file {path}: {exc.strerror}.") from None

    if not text.strip():
        # NB: the usual cause is a shell redirect that truncated the file
        # before a failed run wrote anything into it.
        raise error(
            f"The {what} file {path} is empty: restore it from a backup, or "
            f"remove the flag to start without it."
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data" and what == "state":
            # The commonest cron mistake: the tap's whole output, or every
            # STATE line, saved as the state.
            hint = " Save only the last STATE message's value (or line)."
        raise error(
            f"The {what} file {path} is not valid JSON: {exc.msg} at line "
            f"{exc.lineno} column {exc.colno}.{hint}"
        ) from None


# --- --about ---------------------------------------------------------------


def about() -> dict:
    """What `--about --format json` prints: name, version, capabilities, the
    settings as a JSON Schema (the key marked secret), the streams."""
    from tap_closeio.streams import STREAMS

    properties = {}
    for setting in SETTINGS:
        schema: dict[str, Any] = {
            "type": setting.kind,
            "description": setting.description,
        }
        if setting.default is not None:
            schema["default"] = setting.default
        if setting.format:
            schema["format"] = setting.format
        if setting.secret:
            schema.update(secret=True, writeOnly=True)
        properties[setting.name] = schema

    return {
        "name": NAME,
        "description": DESCRIPTION,
        "version": __version__,
        "capabilities": CAPABILITIES,
        "settings": {
            "type": "object",
            "properties": properties,
            "required": [s.name for s in SETTINGS if s.required],
        },
        "env_var_prefix": "TAP_CLOSEIO_",
        "streams": [
            {
                "name": stream.name,
                "endpoint": "/" + stream.path,
                "key_properties": list(stream.key_properties),
                "replication_key": stream.replication_key,
                "replication_method": "INCREMENTAL",
            }
            for stream in STREAMS
        ],
    }


def render_about(output_format: str) -> str:
    info = about()
    if output_format == "json":
        return json.dumps(info, indent=2) + "\n"
    return _about_markdown(info)


def _about_markdown(info: Mapping[str, Any]) -> str:
    lines = [f"# `{info['name']}`", "", info["description"], ""]
    lines += [f"Version: {info['version']}", "", "## Capabilities", ""]
    lines += [f"* `{name}`" for name in info["capabilities"]]

    lines += ["", "## Settings", ""]
    lines += ["| Setting | Required | Default | Description |", "|---|---|---|---|"]
    required = set(info["settings"]["required"])
    for name, schema in info["settings"]["properties"].items():
        default = schema.get("default", "")
        lines.append(
            f"| {name} | {'yes' if name in required else 'no'} | {default} | "
            f"{schema['description']} |"
        )
    lines += ["", "Any setting can also come from `TAP_CLOSEIO_<SETTING>`.", ""]

    lines += ["## Streams", ""]
    lines += ["| Stream | Endpoint | Key | Replication key |", "|---|---|---|---|"]
    for stream in info["streams"]:
        lines.append(
            f"| {stream['name']} | `{stream['endpoint']}` | "
            f"{', '.join(stream['key_properties'])} | {stream['replication_key']} |"
        )
    return "\n".join(lines) + "\n"


# --- plumbing --------------------------------------------------------------


def _configure_logging() -> None:
    # singer's logging.conf: "LEVEL message" on stderr, root at INFO. NB: it
    # is re-applied each time singer.get_logger() runs (every metric), so a
    # chosen level goes on the package's logger, which that leaves alone.
    singer.get_logger()
    level = os.environ.get(LOG_LEVEL_VARIABLE, "").upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        logging.getLogger("tap_closeio").setLevel(level)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


if __name__ == "__main__":
    sys.exit(main())
