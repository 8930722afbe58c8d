from django.urls import path

from .consumers import DiaryConsumer

websocket_urlpatterns = [
    path("ws/diary/", DiaryConsumer.as_asgi()),
]
