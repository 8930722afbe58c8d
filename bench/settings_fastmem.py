"""Nikki's settings naming diaries.layers.FastInMemoryChannelLayer explicitly (bench comparison)."""

from diary_project.settings import *  # noqa: F403
from diary_project.settings import CHANNEL_LAYERS

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "diaries.layers.FastInMemoryChannelLayer",
        "CONFIG": CHANNEL_LAYERS["default"].get("CONFIG", {}),
    }
}
