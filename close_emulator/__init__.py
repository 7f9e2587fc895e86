"""Close API emulator: a real HTTP server on loopback that answers like Close."""
