"""Shared fixtures: Close API emulators started for a test and stopped after."""

import pytest

from close_emulator import Emulator


@pytest.fixture
def emulator_factory():
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
