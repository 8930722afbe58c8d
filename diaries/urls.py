from django.urls import path

from . import views

app_name = "diaries"

urlpatterns = [
    path("", views.home, name="home"),
    path("entries/new/", views.entry_new, name="entry_new"),
    path("entries/<int:pk>/", views.entry_detail, name="entry_detail"),
    path("entries/<int:pk>/edit/", views.entry_edit, name="entry_edit"),
    path("entries/<int:pk>/delete/", views.entry_delete, name="entry_delete"),
    path("s/<str:token>/", views.shared_entry, name="shared_entry"),
]
