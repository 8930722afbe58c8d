"""ASGI entry point: HTTP through Django, the diary socket through Channels.

Run with `daphne diary_project.asgi:application`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diary_project.settings")
# Set up Django (and the app registry) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from diaries.generation import start_with_server  # noqa: E402
from diaries.imports import jobs as import_jobs  # noqa: E402
from diaries.origins import SiteOriginValidator  # noqa: E402
from diaries.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin must be exactly this site's (scheme, host, port) or a trusted origin.
        "websocket": SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

start_with_server()
import_jobs.start_with_server()
