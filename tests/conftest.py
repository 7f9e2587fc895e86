"""Shared fixtures: Close API emulators started for a test and stopped after."""

from collections.abc import Callable, Iterator

import pytest

from close_emulator import Emulator


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Build and start an Emulator with any of its options; every one built
    is stopped at teardown. Usage: emu = emulator_factory(size="tiny")."""
    started: list[Emulator] = []

    def build(**options: object) -> Emulator:
        emu = Emulator(**options).start()
        started.append(emu)
        return emu

    yield build
    for emu in started:
        emu.stop()
