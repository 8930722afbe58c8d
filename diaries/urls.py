from django.urls import path

from . import site_views, transfer_views, trash_views, version_views, views

app_name = "diaries"

urlpatterns = [
    path("", site_views.front, name="home"),
    path("privacy/", site_views.privacy, name="privacy"),
    path("entries/new/", views.entry_new, name="entry_new"),
    path("entries/<int:pk>/", views.entry_detail, name="entry_detail"),
    path("entries/<int:pk>/edit/", views.entry_edit, name="entry_edit"),
    path("entries/<int:pk>/delete/", views.entry_delete, name="entry_delete"),
    path("s/<str:token>/", views.shared_entry, name="shared_entry"),
    # --- Calendar, search, history, export, settings, account ---
    path("calendar/", views.calendar_month, name="calendar"),
    path("calendar/<int:year>/<int:month>/", views.calendar_month, name="calendar_month"),
    path("search/", views.entries_search, name="search"),
    path("entries/<int:pk>/history/", version_views.entry_history, name="entry_history"),
    path(
        "entries/<int:pk>/history/<str:kind>/<int:version>/restore/",
        version_views.entry_restore,
        name="entry_restore",
    ),
    path("export/markdown/", transfer_views.export_markdown, name="export_markdown"),
    path("export/json/", transfer_views.export_json, name="export_json"),
    path("import/", transfer_views.import_page, name="import"),
    path("import/<int:pk>/status/", transfer_views.import_status, name="import_status"),
    path("settings/", views.settings_page, name="settings"),
    path("accounts/delete/", views.account_delete, name="account_delete"),
    # --- Trash ---
    path("trash/", trash_views.trash_list, name="trash"),
    path("trash/<int:pk>/restore/", trash_views.trash_restore, name="trash_restore"),
    path("trash/<int:pk>/delete/", trash_views.trash_delete, name="trash_delete"),
    path("trash/empty/", trash_views.trash_empty, name="trash_empty"),
    # --- Sharing and reports ---
    path("entries/<int:pk>/share/", views.entry_share, name="entry_share"),
    path("entries/<int:pk>/unshare/", views.entry_unshare, name="entry_unshare"),
    path("s/<str:token>/report/", views.entry_report, name="entry_report"),
]
