"""Runs the original tap-closeio 1.6.6 with its Close base URL taken from the
environment; executed by the throwaway virtualenv's Python, never imported here.
"""

import os
import sys

import tap_closeio.http

import tap_closeio

# NB: 1.6.6 hard-codes BASE_URL in tap_closeio.http and reads it on every
# request (http.url), so replacing the module attribute before main() is enough.
tap_closeio.http.BASE_URL = os.environ["BENCH_ORIGINAL_BASE_URL"].rstrip("/")

if __name__ == "__main__":
    sys.exit(tap_closeio.main())
