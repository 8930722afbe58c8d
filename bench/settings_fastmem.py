"""Nikki's settings with bench/fastlayer.py's in-memory layer (bench comparison only)."""

from diary_project.settings import *  # noqa: F403
from diary_project.settings import CHANNEL_LAYERS

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "bench.fastlayer.FastInMemoryChannelLayer",
        "CONFIG": CHANNEL_LAYERS["default"].get("CONFIG", {}),
    }
}
