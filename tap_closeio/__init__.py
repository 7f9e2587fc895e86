"""tap-closeio: a Singer tap for Close, a drop-in replacement for singer-io's."""

__version__ = "2.0.0.dev0"
