"""Packaging for tap-closeio and the Close API emulator that ships beside it."""

from setuptools import setup

setup(
    name="tap-closeio",
    version="2.0.0.dev0",
    description="Singer tap for Close (close.com), a drop-in replacement for "
    "singer-io tap-closeio",
    python_requires=">=3.10",
    packages=["tap_closeio", "tap_closeio.schemas", "close_emulator"],
    # The schemas live at the top of the repo (where reviewers expect them) but
    # must ship inside the installed package, so map them in as a subpackage.
    package_dir={"tap_closeio.schemas": "schemas"},
    package_data={"tap_closeio.schemas": ["*.json", "shared/*.json"]},
    install_requires=[
        "singer-python~=6.8.0",
        "requests~=2.32",
        "urllib3>=1.26,<3",
        "backoff~=2.2",
        "pendulum~=3.0",
        "orjson~=3.10",
    ],
    extras_require={
        "test": [
            "pytest~=9.0",
            "pytest-timeout~=2.3",
            "ruff~=0.8",
        ],
    },
    entry_points={
        "console_scripts": [
            "tap-closeio=tap_closeio.cli:main",
            "close-emulator=close_emulator.__main__:main",
        ],
    },
)
