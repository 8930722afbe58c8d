import hashlib
import re

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keystore.fields import EncryptedTextBlobField, EncryptedTextField

_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")


class Tone(models.TextChoices):
    PLAIN = "plain", _("Plain")
    WARM = "warm", _("Warm")
    HUMOROUS = "humorous", _("Humorous")
    POETIC = "poetic", _("Poetic")
    REFLECTIVE = "reflective", _("Reflective")


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    JAPANESE = "ja", _("Japanese")

    @classmethod
    def from_code(cls, code: str | None) -> str:
        """A supported writing language for a language code such as "ja-JP" (else English)."""
        base = (code or "").split("-")[0].lower()
        return base if base in cls.values else cls.ENGLISH.value

    @classmethod
    def of_text(cls, text: str) -> str | None:
        """The language a person wrote `text` in: Japanese if it has kana or kanji, English if
        it has Latin letters, None if it tells nothing (digits, emoji)."""
        if _JAPANESE_CHAR.search(text):
            return cls.JAPANESE.value
        if _LATIN_LETTER.search(text):
            return cls.ENGLISH.value
        return None


class GenerationStatus(models.TextChoices):
    GENERATING = "generating", _("Writing")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Stopped")
    FAILED = "failed", _("Failed")
    INTERRUPTED = "interrupted", _("Interrupted")
    FILTERED = "filtered", _("Filtered")


class EntryStatus(models.TextChoices):
    """The entry's state as the owner sees it: never written, or its last generation's."""

    DRAFT = "draft", _("Draft")
    GENERATING = "generating", _("Writing")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Stopped")
    FAILED = "failed", _("Failed")
    INTERRUPTED = "interrupted", _("Interrupted")
    FILTERED = "filtered", _("Filtered")
    EDITED = "edited", _("Edited")


class Sharing(models.TextChoices):
    PRIVATE = "private", _("Private")
    LINK = "link", _("Anyone with the link")


class ModerationState(models.TextChoices):
    OK = "ok", _("OK")
    FLAGGED = "flagged", _("Flagged")
    HIDDEN = "hidden", _("Hidden")
    # The automatic check could not run: not shareable until a check passes or a moderator clears.
    UNCHECKED = "unchecked", _("Not checked")


# Who wrote an entry's text when the owner edited it (`DiaryEntry.writer`).
OWNER_WRITER = "owner"


class EntrySource(models.TextChoices):
    """Where an entry came from: written here, or imported (diaries/imports/)."""

    NIKKI = "", _("Written in Nikki")
    NIKKI_EXPORT = "nikki", _("Restored from a Nikki export")
    DAY_ONE = "dayone", _("Imported from Day One")
    TEXT = "text", _("Imported from a text file")


def text_digest(text: str) -> str:
    """The fingerprint of a text that passed the automatic check (or a moderator's review)."""
    return hashlib.sha256(text.encode()).hexdigest()


class EntryQuerySet(models.QuerySet):
    def owned_by(self, user) -> "EntryQuerySet":
        """The user's entries, those in the trash aside: what every list, search, export and
        socket action of theirs sees."""
        return self.filter(owner=user, trashed_at__isnull=True)

    def in_trash_of(self, user) -> "EntryQuerySet":
        return self.filter(owner=user, trashed_at__isnull=False)


class DiaryEntry(models.Model):
    # What the person writes; the model's text is made from these.
    INPUT_FIELDS = ("date", "morning", "afternoon", "evening", "notes", "tone", "language")
    NOTE_FIELDS = ("morning", "afternoon", "evening", "notes")  # the person's own words

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="diary_entries"
    )
    date = models.DateField(_("date"), default=timezone.localdate)
    morning = EncryptedTextField(_("morning"), blank=True, owner="owner_id")
    afternoon = EncryptedTextField(_("afternoon"), blank=True, owner="owner_id")
    evening = EncryptedTextField(_("evening"), blank=True, owner="owner_id")
    notes = EncryptedTextField(
        _("notes"), blank=True, owner="owner_id", help_text=_("Free text, for anything else.")
    )
    tone = models.CharField(_("tone"), max_length=20, choices=Tone, default=Tone.PLAIN)
    language = models.CharField(
        _("language"), max_length=8, choices=Language, default=Language.ENGLISH
    )
    text = EncryptedTextField(
        _("text"),
        blank=True,
        owner="owner_id",
        help_text=_("The last finished generation, or the owner's edit."),
    )
    status = models.CharField(max_length=20, choices=EntryStatus, default=EntryStatus.DRAFT)
    # Who wrote `text`: a writer name ("offline", "openai") or "owner" after an edit.
    writer = models.CharField(max_length=40, blank=True)
    model_name = models.CharField(max_length=120, blank=True)
    sharing = models.CharField(max_length=10, choices=Sharing, default=Sharing.PRIVATE)
    share_token = models.CharField(max_length=64, blank=True, null=True, unique=True)
    moderation_state = models.CharField(
        max_length=10, choices=ModerationState, default=ModerationState.OK
    )
    # Shown to the owner when a moderator hides the entry or the automatic check flags it.
    moderation_reason = models.TextField(_("moderation reason"), blank=True)
    # text_digest() of the text that last passed the check or a moderator's review: model-written
    # text is published on the shared page only when it matches.
    moderation_checked_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    source = models.CharField(_("source"), max_length=10, choices=EntrySource, blank=True)
    # An imported entry's fingerprint in its source, keyed per owner (diaries/imports/keys.py):
    # importing the same file again skips it. Never a plain hash of the words.
    import_key = models.CharField(max_length=64, blank=True, editable=False)
    # In the trash since then (None: not): restorable until DIARY_TRASH_DAYS have passed.
    trashed_at = models.DateTimeField(_("in the trash since"), null=True, blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ("-date", "-created_at")
        indexes = [
            models.Index(fields=("owner", "-date", "-created_at")),
            # Search's fingerprint of a diary (its last change) without reading its rows.
            models.Index(fields=("owner", "updated_at"), name="diary_entry_owner_changed"),
            # The sweeper's and the trash page's: only the few entries in a trash.
            models.Index(
                fields=("trashed_at",),
                name="diary_entry_trashed",
                condition=Q(trashed_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=("owner", "import_key"),
                condition=~Q(import_key=""),
                name="one_import_per_source_entry",
            ),
        ]
        verbose_name = _("diary entry")
        verbose_name_plural = _("diary entries")
        permissions = [
            ("moderate_diaryentry", _("Can hide, restore, clear and stop sharing entries")),
        ]

    def __str__(self) -> str:
        return f"{self.owner} — {self.date.isoformat()} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse("diaries:entry_detail", args=[self.pk])

    def inputs(self) -> dict[str, str]:
        """The inputs as strings (the date in ISO form), in INPUT_FIELDS order."""
        return {
            name: self.date.isoformat() if name == "date" else getattr(self, name)
            for name in self.INPUT_FIELDS
        }

    @property
    def is_shared(self) -> bool:
        return self.sharing == Sharing.LINK and bool(self.share_token)

    @property
    def text_needs_check(self) -> bool:
        """Model-written text that has not passed the automatic check (nor a moderator)."""
        return (
            bool(self.text)
            and self.writer not in ("", OWNER_WRITER)
            and self.moderation_checked_digest != text_digest(self.text)
        )


class SearchBlock(models.Model):
    """A month of a person's diary as search compares it (diaries/search_index.py): every entry
    of that month (the trash's too) normalized, its words in one value, sealed under the owner's
    key and compressed as one (a month's entries share most of their words). A search opens
    one value per month, not one per entry. Built from the entries as they were: how many, their
    last change and the sum of their ids; a search rebuilds a block whose month no longer
    answers so, so no write path has to remember it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # its first day
    text = EncryptedTextBlobField(owner="owner_id")
    entries = models.PositiveIntegerField()
    changed = models.DateTimeField()  # the latest updated_at of its entries
    id_sum = models.BigIntegerField()  # with `entries`: an entry gone and another come is seen
    version = models.PositiveSmallIntegerField()  # the normalized form's and the layout's

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("owner", "month"), name="one_search_block_a_month"),
        ]

    def __str__(self) -> str:
        return f"search block of user #{self.owner_id}, {self.month:%Y-%m}"


class Generation(models.Model):
    """One attempt to write an entry. Never deleted by regenerating: history is kept."""

    entry = models.ForeignKey(DiaryEntry, on_delete=models.CASCADE, related_name="generations")
    status = models.CharField(
        max_length=20, choices=GenerationStatus, default=GenerationStatus.GENERATING
    )
    text = EncryptedTextField(blank=True, owner="entry.owner_id")
    # The seq of the last delta included in `text` (checkpoints store the flushed text only).
    seq = models.PositiveIntegerField(default=0)
    writer = models.CharField(max_length=40)
    model_name = models.CharField(max_length=120, blank=True)
    tone = models.CharField(max_length=20, choices=Tone)
    language = models.CharField(max_length=8, choices=Language)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    request_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # The channel of the process running this generation: snapshot and cancel requests go there.
    owner_channel = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-started_at", "-pk")
        constraints = [
            # Guarantee 2: at most one running generation per entry, enforced by the database.
            models.UniqueConstraint(
                fields=("entry",),
                condition=Q(status="generating"),
                name="one_running_generation_per_entry",
            ),
        ]
        indexes = [models.Index(fields=("status", "heartbeat_at"))]

    def __str__(self) -> str:
        return f"generation #{self.pk} of entry #{self.entry_id} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status == GenerationStatus.GENERATING


class EntryEdit(models.Model):
    """An owner's edit of an entry's text; kept so no version is ever lost."""

    entry = models.ForeignKey(DiaryEntry, on_delete=models.CASCADE, related_name="edits")
    text = EncryptedTextField(owner="entry.owner_id")
    previous_text = EncryptedTextField(blank=True, owner="entry.owner_id")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"edit #{self.pk} of entry #{self.entry_id}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """One uploaded file being imported off the request (diaries/imports/jobs.py). The file's
    content is kept sealed until the import ends, then emptied."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="diary_imports"
    )
    status = models.CharField(max_length=10, choices=ImportStatus, default=ImportStatus.QUEUED)
    # A file's name can say as much as its words: sealed like them.
    file_name = EncryptedTextField(blank=True, owner="owner_id")
    file_format = models.CharField(max_length=10, choices=EntrySource, blank=True)
    content = EncryptedTextField(blank=True, owner="owner_id")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    photos_skipped = models.PositiveIntegerField(default=0)
    # Names the entry or line at fault (and so the file's name): sealed.
    error_message = EncryptedTextField(blank=True, owner="owner_id")
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [models.Index(fields=("status", "heartbeat_at"))]

    def __str__(self) -> str:
        return f"import #{self.pk} of {self.owner} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class Profile(models.Model):
    """Per-user preferences and limits."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="diary_profile"
    )
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    default_tone = models.CharField(max_length=20, choices=Tone, default=Tone.PLAIN)
    default_language = models.CharField(max_length=8, choices=Language, blank=True)
    ui_language = models.CharField(
        _("interface language"), max_length=8, choices=Language, blank=True
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        help_text=_("An IANA name such as Asia/Tokyo; empty: the site's."),
    )
    daily_generation_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Overrides DIARY_DAILY_GENERATIONS when set.")
    )
    keep_names_from_model = models.BooleanField(
        _("keep names from the model"),
        default=False,
        help_text=_("Replace the listed names by placeholders before the notes are sent."),
    )
    private_names = EncryptedTextField(
        _("names kept from the model"),
        blank=True,
        owner="user_id",
        help_text=_("One name a line."),
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"


class DailyUsage(models.Model):
    """What a person used on one day, their local day as the daily quota counts it.

    Counted when a generation starts (its tokens when it ends) and never lowered: deleting
    entries, or a whole history of generations, does not give a person more of the quota.
    `tokens` adds up what the model servers reported; a generation that ended without a report
    (a server that sends no usage, a stream stopped or cut) counts in `unknown_usage_generations`
    instead, so the tokens are known to be at least `tokens`.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="diary_usage"
    )
    day = models.DateField()
    generations = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    unknown_usage_generations = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-day", "user")
        constraints = [
            models.UniqueConstraint(fields=("user", "day"), name="one_usage_row_per_user_per_day"),
        ]
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")

    def __str__(self) -> str:
        return f"usage of {self.user} on {self.day.isoformat()}"


# --- Moderation: reports, the audit trail, accounts -----------------------------------------


class ReportReason(models.TextChoices):
    SPAM = "spam", _("Spam or advertising")
    HARASSMENT = "harassment", _("Harassment or bullying")
    HATE = "hate", _("Hate against a group of people")
    SEXUAL = "sexual", _("Sexual content")
    VIOLENCE = "violence", _("Violence or threats")
    SELF_HARM = "self_harm", _("Self-harm")
    PRIVATE_INFO = "private_info", _("Someone's private information")
    OTHER = "other", _("Something else")


class ReportStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved (acted on)")
    DISMISSED = "dismissed", _("Dismissed (no action)")


class Report(models.Model):
    """Someone viewing a shared entry says it should not be there."""

    entry = models.ForeignKey(DiaryEntry, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="diary_reports",
    )
    reason = models.CharField(_("reason"), max_length=20, choices=ReportReason)
    details = models.TextField(_("details"), max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=ReportStatus, default=ReportStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=("entry", "reporter"),
                condition=Q(status="open"),
                name="one_open_report_per_user_per_entry",
            ),
        ]
        indexes = [models.Index(fields=("status", "-created_at"))]

    def __str__(self) -> str:
        return f"report #{self.pk} of entry #{self.entry_id} ({self.status})"


class ModerationAction(models.TextChoices):
    ENTRY_SHARED = "entry_shared", _("Entry shared by its owner")
    ENTRY_UNSHARED = "entry_unshared", _("Sharing stopped by the owner")
    CHECK_FLAGGED = "check_flagged", _("Flagged by the automatic check")
    CHECK_FAILED = "check_failed", _("Automatic check could not run")
    CHECK_PASSED = "check_passed", _("Passed the automatic check after a failure")
    ENTRY_HIDDEN = "entry_hidden", _("Entry hidden")
    ENTRY_RESTORED = "entry_restored", _("Entry restored")
    FLAG_CLEARED = "flag_cleared", _("Flag cleared")
    SHARE_REVOKED = "share_revoked", _("Share link revoked by a moderator")
    REPORT_FILED = "report_filed", _("Entry reported")
    REPORT_RESOLVED = "report_resolved", _("Report resolved")
    REPORT_DISMISSED = "report_dismissed", _("Report dismissed")
    USER_DEACTIVATED = "user_deactivated", _("User deactivated")
    USER_REACTIVATED = "user_reactivated", _("User reactivated")
    LIMIT_CHANGED = "limit_changed", _("Daily generation limit changed")


class ModerationEvent(models.Model):
    """The audit trail: who decided what, when and why. Written by services, never edited.

    References are kept when the entry, report or users are deleted (SET_NULL); `details` holds
    their ids and other facts, never diary text.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=30, choices=ModerationAction)
    # None: the system (the automatic check). `actor_name` outlives the account.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    entry = models.ForeignKey(
        DiaryEntry,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="moderation_events",
    )
    report = models.ForeignKey(
        Report, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    # The user acted upon: the entry's owner, or the account deactivated.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        verbose_name = _("moderation event")
        verbose_name_plural = _("moderation events (audit trail)")

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.get_action_display()} by {who} ({self.created_at:%Y-%m-%d %H:%M})"


class Account(User):
    """A user as the moderation desk sees them: usage, daily limit, active or not."""

    class Meta:
        proxy = True
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
