"""Close API emulator: a real HTTP server on loopback that answers like Close."""

from close_emulator.emulator import Emulator
from close_emulator.faults import Fault
from close_emulator.requestlog import RequestRecord

__all__ = ["Emulator", "Fault", "RequestRecord"]
