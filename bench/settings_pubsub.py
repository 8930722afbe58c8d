"""Nikki's settings with channels_redis's RedisPubSubChannelLayer (bench comparison only)."""

from diary_project.settings import *  # noqa: F403
from diary_project.settings import REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
