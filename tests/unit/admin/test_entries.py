"""The admin as a moderation desk, through Django's test client: what superusers and the
Moderators group see and do, the actions and their audit trail, accounts and their limits."""

from __future__ import annotations

import asyncio
import re

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from diaries import selectors
from diaries.models import (
    Account,
    DiaryEntry,
    Generation,
    ModerationAction,
    ModerationEvent,
    ModerationState,
    Report,
    ReportStatus,
    Sharing,
)
from diaries.services.checks import entry_text_check
from diaries.services.entries import entry_delete, entry_update_text
from diaries.services.generations import generation_finish, generation_start
from diaries.services.sharing import entry_report, entry_share, entry_unshare
from tests.support.admin import (
    NOTE,
    make_moderator,
    make_superuser,
    signed_in,
    with_authenticator_app,
    written,
)
from tests.support.factories import make_entry, make_user
from tests.support.sockets import entry_being_written

pytestmark = pytest.mark.django_db

PRIVATE_TEXT = "PRIVATE-DIARY-TEXT about my sister"

MODERATOR_PERMISSIONS = {
    "diaries.view_diaryentry",
    "diaries.moderate_diaryentry",
    "diaries.view_generation",
    "diaries.view_report",
    "diaries.change_report",
    "diaries.view_moderationevent",
    "diaries.view_account",
    "diaries.change_account",
}


@pytest.fixture(autouse=True)
def _word_list(settings):
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["forbidden"]
    # Many users per test: a fast hasher (the real one is tested in views/test_accounts.py).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The report rate limit counts per user id, and ids repeat from test to test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner():
    return make_user("owner")


@pytest.fixture
def entries(owner):
    """One entry in each situation a moderator may or may not see."""
    private = written(owner, PRIVATE_TEXT)
    shared = entry_share(user=owner, entry=written(owner, "A shared day."))
    flagged = written(owner, "A forbidden day.")
    entry_text_check(entry=flagged)
    reported = entry_share(user=owner, entry=written(owner, "A reported day."))
    entry_report(user=make_user(), entry=reported, reason="spam")
    entry_unshare(user=owner, entry=reported)  # reported, then made private again
    return {"private": private, "shared": shared, "flagged": flagged, "reported": reported}


@pytest.fixture
def moderator():
    return make_moderator("mod")


@pytest.fixture
def mod(moderator) -> Client:
    return signed_in(moderator)


@pytest.fixture
def superuser():
    return make_superuser()


@pytest.fixture
def root(superuser) -> Client:
    return signed_in(superuser)


def change_url(entry: DiaryEntry) -> str:
    return reverse("admin:diaries_diaryentry_change", args=[entry.pk])


CHANGELIST = reverse("admin:diaries_diaryentry_changelist")


def listed_ids(html: str, model: str = "diaryentry") -> set[int]:
    return {int(pk) for pk in re.findall(rf"/admin/diaries/{model}/(\d+)/change/", html)}


def act(client: Client, action: str, rows, reason: str = "", url: str = CHANGELIST):
    return client.post(
        url,
        {"action": action, "_selected_action": [row.pk for row in rows], "reason": reason},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the Moderators group -----------------------------------------------------------------------


def test_the_moderators_group_has_exactly_the_permissions_moderation_needs(moderator):
    group = Group.objects.get(name="Moderators")
    names = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}

    assert names == MODERATOR_PERMISSIONS
    assert moderator.get_all_permissions() == MODERATOR_PERMISSIONS
    for denied in (
        "diaries.change_diaryentry",
        "diaries.delete_diaryentry",
        "diaries.view_entryedit",
        "diaries.view_profile",
        "diaries.change_moderationevent",
        "diaries.delete_report",
        "auth.view_user",
        "auth.change_user",
    ):
        assert not moderator.has_perm(denied)


def test_a_moderator_sees_only_shared_reported_or_flagged_entries(mod, entries):
    html = mod.get(CHANGELIST).text

    assert listed_ids(html) == {e.pk for k, e in entries.items() if k != "private"}
    assert PRIVATE_TEXT not in html


def test_a_superuser_sees_every_entry(root, entries):
    assert listed_ids(root.get(CHANGELIST).text) == {e.pk for e in entries.values()}


@pytest.mark.parametrize(
    "suffix", ["change/", "history/", "delete/"], ids=["change", "history", "delete"]
)
def test_a_moderator_cannot_open_a_private_entry_by_its_address(mod, entries, suffix):
    private = entries["private"]
    url = reverse("admin:diaries_diaryentry_change", args=[private.pk]).replace("change/", suffix)

    response = mod.get(url)

    assert response.status_code in (302, 403, 404)
    if response.status_code == 302:
        assert response.url == reverse("admin:index")
    assert PRIVATE_TEXT not in mod.get(url, follow=True).text


def test_a_moderator_cannot_reach_a_private_entry_through_its_generations(mod, owner, entries):
    generation = Generation.objects.create(
        entry=entries["private"], status="done", text=PRIVATE_TEXT, writer="scripted"
    )
    visible = Generation.objects.create(
        entry=entries["shared"], status="done", text="shared", writer="scripted"
    )

    listing = mod.get(reverse("admin:diaries_generation_changelist")).text
    response = mod.get(reverse("admin:diaries_generation_change", args=[generation.pk]))

    assert listed_ids(listing, "generation") == {visible.pk}
    assert response.status_code in (302, 403, 404)
    assert PRIVATE_TEXT not in mod.get(response.url if response.status_code == 302 else "/").text


def test_a_moderator_can_view_but_never_edit_add_or_delete_an_entry(mod, entries):
    shared = entries["shared"]

    page = mod.get(change_url(shared))
    post = mod.post(change_url(shared), {"text": "rewritten", "_save": "1"})

    assert page.status_code == 200 and "A shared day." in page.text
    assert 'name="_save"' not in page.text
    assert post.status_code == 403
    assert mod.get(reverse("admin:diaries_diaryentry_add")).status_code == 403
    delete_url = change_url(shared).replace("change/", "delete/")
    assert mod.post(delete_url, {"post": "yes"}).status_code == 403
    shared.refresh_from_db()
    assert shared.text == "A shared day."


def test_a_moderator_never_sees_the_owners_notes_a_superuser_may(mod, root, entries):
    assert NOTE not in mod.get(change_url(entries["shared"])).text
    assert NOTE in root.get(change_url(entries["shared"])).text


@pytest.mark.parametrize(
    "name",
    [
        "admin:diaries_entryedit_changelist",
        "admin:diaries_profile_changelist",
        "admin:auth_user_changelist",
        "admin:auth_group_changelist",
    ],
)
def test_a_moderator_cannot_open_owners_records_or_django_users(mod, name):
    assert mod.get(reverse(name)).status_code == 403


def test_the_admin_index_shows_a_moderator_the_desk(mod):
    html = mod.get(reverse("admin:index")).text

    for name in ("Diary entries", "Reports", "Moderation events", "Accounts", "Generations"):
        assert name in html
    assert "Entry edits" not in html and "Profiles" not in html


def test_a_non_staff_member_of_the_group_cannot_sign_in_to_the_admin(entries):
    user = with_authenticator_app(make_user())  # past the second-factor requirement
    user.groups.add(Group.objects.get(name="Moderators"))

    response = signed_in(user).get(CHANGELIST)

    assert response.status_code == 302 and "/admin/login/" in response.url


# --- the entries list -------------------------------------------------------------------------


def test_the_list_shows_state_sharing_reports_writer_and_model(mod, entries):
    html = mod.get(CHANGELIST).text

    for column in (
        "Owner",
        "Date",
        "Status",
        "Moderation state",
        "Shared",
        "Reports",
        "Open reports",
        "Writer",
        "Model name",
    ):
        assert f">{column}<" in html or f">{column}</a>" in html, column
    assert "scripted-1" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("queue=review", {"flagged", "reported"}),
        ("queue=flagged", {"flagged"}),
        ("reports=open", {"reported"}),
        ("reports=none", {"shared", "flagged"}),
        ("sharing__exact=link", {"shared"}),
        ("moderation_state__exact=flagged", {"flagged"}),
        # The texts are encrypted at rest: the database searches owners, never the text.
        ("q=reported+day", set()),
        ("q=owner", {"shared", "flagged", "reported"}),
        ("writer__exact=scripted", {"shared", "flagged", "reported"}),
    ],
)
def test_filters_and_search(mod, entries, query, expected):
    html = mod.get(f"{CHANGELIST}?{query}").text

    assert listed_ids(html) == {entries[name].pk for name in expected}


def test_searching_never_finds_a_private_diary(mod, entries):
    assert listed_ids(mod.get(f"{CHANGELIST}?q=sister").text) == set()


def test_the_entry_page_shows_generations_reports_and_its_audit_trail(mod, entries):
    shared = entries["reported"]
    Generation.objects.create(
        entry=shared,
        status="failed",
        writer="openai",
        model_name="gpt-x",
        total_tokens=321,
        prompt_tokens=300,
        completion_tokens=21,
        time_to_first_token_ms=456,
        duration_ms=7890,
        error_code="upstream_timeout",
    )

    html = mod.get(change_url(shared)).text

    for fact in (
        "321",
        "456",
        "7890",
        "upstream_timeout",
        "gpt-x",
        "Spam or advertising",
        "Entry reported",
        "Entry shared by its owner",
    ):
        assert fact in html, fact


# --- actions --------------------------------------------------------------------------------


def test_hide_needs_a_reason_and_then_hides_each_row_with_an_audit_record(mod, moderator, entries):
    rows = [entries["shared"], entries["flagged"]]

    refused = act(mod, "hide_entries", rows)
    done = act(mod, "hide_entries", rows, reason="Doxxing")

    assert any("Give a reason" in m for m in messages_of(refused))
    assert sum("hidden" in m for m in messages_of(done)) == 2
    for row in rows:
        row.refresh_from_db()
        assert row.moderation_state == ModerationState.HIDDEN
        assert row.moderation_reason == "Doxxing"
        event = ModerationEvent.objects.get(entry=row, action=ModerationAction.ENTRY_HIDDEN)
        assert (event.actor, event.actor_name, event.reason) == (moderator, "mod", "Doxxing")
    assert signed_in(make_user()).get(f"/s/{entries['shared'].share_token}/").status_code == 404


def test_actions_report_refusals_per_row(mod, entries):
    response = act(mod, "restore_entries", [entries["shared"]])

    assert any("not hidden" in m for m in messages_of(response))


def test_restore_clear_flag_and_revoke(mod, entries):
    shared, flagged = entries["shared"], entries["flagged"]
    act(mod, "hide_entries", [shared], reason="check it")

    act(mod, "restore_entries", [shared], reason="fine after all")
    act(mod, "clear_flags", [flagged], reason="a gardening word")
    revoked = act(mod, "revoke_shares", [shared], reason="asked by a relative")

    shared.refresh_from_db()
    flagged.refresh_from_db()
    assert shared.moderation_state == ModerationState.OK and not shared.is_shared
    assert flagged.moderation_state == ModerationState.OK and not flagged.text_needs_check
    assert any("share link revoked" in m for m in messages_of(revoked))
    actions = list(
        ModerationEvent.objects.filter(actor__isnull=False, actor__username="mod")
        .order_by("pk")
        .values_list("action", "reason")
    )
    assert actions == [
        ("entry_hidden", "check it"),
        ("entry_restored", "fine after all"),
        ("flag_cleared", "a gardening word"),
        ("share_revoked", "asked by a relative"),
    ]
    # Cleared: the owner may share it now.
    assert entry_share(user=flagged.owner, entry=flagged).is_shared


def test_check_again_runs_the_automatic_check(mod, owner, settings):
    entry = written(owner, "An unchecked forbidden text.", sharing=Sharing.LINK, share_token="t-1")

    response = act(mod, "check_again", [entry])

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.FLAGGED
    assert any("flagged" in m for m in messages_of(response))


def test_actions_run_from_an_entrys_own_page(mod, entries):
    shared = entries["shared"]

    response = mod.post(
        change_url(shared),
        {
            "CHANGE_FORM-action": "hide_entries",
            "CHANGE_FORM-reason": "From its page",
            "_selected_action": [shared.pk],
        },
        follow=True,
    )

    shared.refresh_from_db()
    assert response.status_code == 200
    assert shared.moderation_state == ModerationState.HIDDEN
    assert shared.moderation_reason == "From its page"


def test_a_moderator_cannot_act_on_a_private_entry_by_forging_the_form(mod, entries):
    private = entries["private"]

    act(mod, "hide_entries", [private], reason="curious")

    private.refresh_from_db()
    assert private.moderation_state == ModerationState.OK
    assert not ModerationEvent.objects.filter(action=ModerationAction.ENTRY_HIDDEN).exists()


def test_a_member_without_the_moderate_permission_has_no_actions(entries):
    viewer = make_user()
    viewer.is_staff = True
    viewer.save()
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_diaryentry"))
    client = signed_in(with_authenticator_app(viewer))

    html = client.get(CHANGELIST).text
    act(client, "hide_entries", [entries["shared"]], reason="no")

    assert "hide_entries" not in html
    entries["shared"].refresh_from_db()
    assert entries["shared"].moderation_state == ModerationState.OK


# --- reports ----------------------------------------------------------------------------------


REPORTS = reverse("admin:diaries_report_changelist")


def test_reports_are_listed_and_resolvable(mod, moderator, entries):
    report = Report.objects.get()

    html = mod.get(REPORTS).text
    response = act(mod, "resolve_reports", [report], reason="Talked to the owner", url=REPORTS)

    assert "Spam or advertising" in html and f"#{entries['reported'].pk}" in html
    report.refresh_from_db()
    assert report.status == ReportStatus.RESOLVED and report.resolved_by == moderator
    assert report.resolution_note == "Talked to the owner" and report.resolved_at
    assert any("resolved" in m for m in messages_of(response))
    event = ModerationEvent.objects.get(action=ModerationAction.REPORT_RESOLVED)
    assert (event.report, event.actor) == (report, moderator)
    again = act(mod, "dismiss_reports", [report], url=REPORTS)
    assert any("already closed" in m for m in messages_of(again))


def test_hiding_from_the_reports_list_resolves_them(mod, owner):
    entry = entry_share(user=owner, entry=written(owner, "Reported twice."))
    for _ in range(2):
        entry_report(user=make_user(), entry=entry, reason="hate")

    act(
        mod,
        "hide_reported_entries",
        Report.objects.filter(entry=entry)[:1],
        reason="Hateful",
        url=REPORTS,
    )

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.HIDDEN
    assert set(Report.objects.filter(entry=entry).values_list("status", flat=True)) == {"resolved"}


def test_reports_cannot_be_added_edited_or_deleted(mod, root, entries):
    report = Report.objects.get()
    url = reverse("admin:diaries_report_change", args=[report.pk])
    for client in (mod, root):
        assert client.get(reverse("admin:diaries_report_add")).status_code == 403
        assert client.post(url, {"status": "dismissed", "_save": "1"}).status_code == 403
        assert client.get(url.replace("change/", "delete/")).status_code == 403
    report.refresh_from_db()
    assert report.status == ReportStatus.OPEN


LATER_TEXT = "LATER-PRIVATE-TEXT written after the report was closed"


def reported_then_private(owner, reporters: int = 1) -> DiaryEntry:
    """Shared, reported, then made private again by its owner; one generation."""
    entry = entry_share(user=owner, entry=written(owner, "A reported day."))
    for _ in range(reporters):
        entry_report(user=make_user(), entry=entry, reason="spam")
    entry_unshare(user=owner, entry=entry)
    Generation.objects.create(entry=entry, status="done", text=LATER_TEXT, writer="scripted")
    return entry


def seen_by(client: Client, entry: DiaryEntry) -> dict[str, bool]:
    """Every place of the admin where a moderator could read the entry or its generations."""
    generation = entry.generations.get()
    entry.refresh_from_db()
    page = client.get(change_url(entry), follow=True)
    generation_page = client.get(
        reverse("admin:diaries_generation_change", args=[generation.pk]), follow=True
    )
    return {
        "entries list": entry.pk in listed_ids(client.get(CHANGELIST).text),
        "entry page": LATER_TEXT in page.text or "A reported day." in page.text,
        "generations list": generation.pk
        in listed_ids(
            client.get(reverse("admin:diaries_generation_changelist")).text, "generation"
        ),
        "generation page": LATER_TEXT in generation_page.text,
        # The admin searches owners (the texts are encrypted at rest).
        "search": entry.pk in listed_ids(client.get(CHANGELIST, {"q": entry.owner.username}).text),
    }


NOWHERE = dict.fromkeys(
    ("entries list", "entry page", "generations list", "generation page", "search"), False
)


@pytest.mark.parametrize("action", ["dismiss_reports", "resolve_reports"])
def test_a_closed_report_no_longer_shows_a_private_entry_to_moderators(mod, owner, action):
    entry = reported_then_private(owner)
    assert seen_by(mod, entry) == dict.fromkeys(NOWHERE, True)  # an open report: a case to judge

    closed = act(mod, action, Report.objects.filter(entry=entry), reason="fine", url=REPORTS)
    entry_update_text(entry=entry, text=LATER_TEXT)

    assert any(("dismissed" in m or "resolved" in m) for m in messages_of(closed))
    assert seen_by(mod, entry) == NOWHERE
    assert LATER_TEXT not in mod.get(REPORTS).text


def test_an_entry_stays_visible_while_one_of_its_reports_is_open(mod, owner):
    entry = reported_then_private(owner, reporters=2)

    act(mod, "dismiss_reports", Report.objects.filter(entry=entry)[:1], url=REPORTS)

    assert seen_by(mod, entry)["entries list"] and seen_by(mod, entry)["generation page"]


def test_a_closed_report_cannot_hide_and_so_reopen_a_private_entry(mod, owner):
    entry = reported_then_private(owner)
    act(mod, "dismiss_reports", Report.objects.filter(entry=entry), url=REPORTS)

    refused = act(
        mod, "hide_reported_entries", Report.objects.filter(entry=entry), "x", url=REPORTS
    )

    entry.refresh_from_db()
    assert any("already closed" in m for m in messages_of(refused))
    assert entry.moderation_state == ModerationState.OK
    assert seen_by(mod, entry) == NOWHERE


# --- the audit trail --------------------------------------------------------------------------


EVENTS = reverse("admin:diaries_moderationevent_changelist")


def test_the_audit_trail_is_visible_and_never_editable(mod, root, entries):
    event = ModerationEvent.objects.filter(action=ModerationAction.CHECK_FLAGGED).get()
    url = reverse("admin:diaries_moderationevent_change", args=[event.pk])

    listing = mod.get(EVENTS).text
    assert "Flagged by the automatic check" in listing and "the system" in listing
    for client in (mod, root):
        page = client.get(url)
        assert page.status_code == 200 and 'name="_save"' not in page.text
        assert client.post(url, {"reason": "edited", "_save": "1"}).status_code == 403
        assert client.get(reverse("admin:diaries_moderationevent_add")).status_code == 403
        assert client.post(url.replace("change/", "delete/"), {"post": "yes"}).status_code == 403
        listing = client.get(EVENTS).text
        assert "delete_selected" not in listing
    event.refresh_from_db()
    assert event.reason != "edited"


def test_the_audit_trail_outlives_the_entry(owner, root):
    entry = entry_share(user=owner, entry=written(owner, "A day."))
    entry_unshare(user=owner, entry=entry)
    pk = entry.pk
    entry_delete(entry=entry)

    events = ModerationEvent.objects.filter(details__entry=pk)
    html = root.get(EVENTS).text

    assert events.count() == 2 and all(e.entry is None for e in events)
    assert f"#{pk} (deleted)" in html


# --- accounts ---------------------------------------------------------------------------------


ACCOUNTS = reverse("admin:diaries_account_changelist")


def account_url(user) -> str:
    return reverse("admin:diaries_account_change", args=[user.pk])


def test_accounts_show_generations_and_tokens_today(mod, owner):
    entry = make_entry(owner)
    for tokens in (100, 250):
        started = generation_start(user=owner, entry=entry, writer_name="w", model_name="m")
        generation_finish(
            generation_id=started.generation.pk,
            status="done",
            text="t",
            seq=1,
            usage={"total_tokens": tokens},
        )

    html = mod.get(f"{ACCOUNTS}?q=owner").text

    row = html.split('href="' + account_url(owner))[1].split("</tr>")[0]
    assert re.search(r">2<", row) and ">350<" in row
    assert "50 (default)" in row


def test_setting_a_daily_limit_is_audited_and_honoured(mod, moderator, owner):
    response = mod.post(
        account_url(owner),
        {"daily_generation_limit": "3", "limit_reason": "Scripted abuse"},
    )

    assert response.status_code == 302
    assert selectors.daily_limit_for(user=owner) == 3
    event = ModerationEvent.objects.get(action=ModerationAction.LIMIT_CHANGED)
    assert (event.actor, event.subject, event.reason) == (moderator, owner, "Scripted abuse")
    assert event.details["from"] is None and event.details["to"] == 3
    mod.post(account_url(owner), {"daily_generation_limit": "", "limit_reason": "back"})
    assert selectors.daily_limit_for(user=owner) == 50


def test_a_moderator_cannot_change_staff_accounts(mod, superuser):
    response = mod.post(account_url(superuser), {"daily_generation_limit": "0"})
    assert response.status_code == 403

    act(mod, "deactivate_accounts", [Account.objects.get(pk=superuser.pk)], url=ACCOUNTS)
    superuser.refresh_from_db()
    assert superuser.is_active


def test_deactivate_and_reactivate_from_the_accounts_list(mod, moderator, owner):
    rows = [Account.objects.get(pk=owner.pk), Account.objects.get(pk=moderator.pk)]

    response = act(mod, "deactivate_accounts", rows, reason="Spam bot", url=ACCOUNTS)

    owner.refresh_from_db()
    moderator.refresh_from_db()
    assert not owner.is_active and moderator.is_active  # never one's own account
    text = " ".join(messages_of(response))
    assert "owner: deactivated" in text and "your own account" in text
    event = ModerationEvent.objects.get(action=ModerationAction.USER_DEACTIVATED)
    assert (event.actor, event.subject, event.reason) == (moderator, owner, "Spam bot")
    act(mod, "reactivate_accounts", rows[:1], url=ACCOUNTS)
    owner.refresh_from_db()
    assert owner.is_active
    assert ModerationEvent.objects.filter(action=ModerationAction.USER_REACTIVATED).count() == 1


def test_accounts_cannot_be_added_or_deleted(mod, owner):
    assert mod.get(reverse("admin:diaries_account_add")).status_code == 403
    assert mod.get(account_url(owner).replace("change/", "delete/")).status_code == 403


def test_a_superuser_deactivating_on_django_s_user_page_is_audited(root, superuser, owner):
    url = reverse("admin:auth_user_change", args=[owner.pk])
    form = root.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "username": owner.username,
            "is_active": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "last_login_0": "",
            "last_login_1": "",
            "groups": [],
            "user_permissions": [],
            "_save": "1",
        }
    )
    data = {k: v for k, v in data.items() if not isinstance(v, bool) and k != "date_joined"}

    response = root.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    owner.refresh_from_db()
    assert not owner.is_active
    event = ModerationEvent.objects.get(action=ModerationAction.USER_DEACTIVATED)
    assert (event.actor, event.subject) == (superuser, owner)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deactivating_closes_sockets_and_stops_generations_at_once(scripted, socket_for):
    writer = scripted(pieces=[f"w{i} " for i in range(400)], delay=0.01)
    superuser = await database_sync_to_async(make_superuser)()
    user, entry, ws = await entry_being_written(socket_for)
    client = await database_sync_to_async(signed_in)(superuser)

    await database_sync_to_async(act)(
        client, "deactivate_accounts", [user], reason="abuse", url=ACCOUNTS
    )

    while True:
        output = await ws.c.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4401
    for _ in range(100):
        generation = await Generation.objects.aget(entry=entry)
        if generation.status != "generating":
            break
        await asyncio.sleep(0.05)
    assert generation.status == "cancelled" and generation.text
    assert writer.closed_early == 1
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    assert saved.text == generation.text
    event = await ModerationEvent.objects.aget(action=ModerationAction.USER_DEACTIVATED)
    assert event.details["generations_stopped"] == 1
