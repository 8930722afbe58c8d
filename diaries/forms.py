import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy

from .models import DiaryEntry, Language, Tone
from .pseudonyms import MAX_NAME_CHARS, MAX_NAMES, MIN_NAME_CHARS, parse_names

NOTE_FIELDS = ("morning", "afternoon", "evening", "notes")

# Every form's label suffix is Django's _(":"): listed here so the catalog keeps its Japanese
# translation (a full-width colon after "日付", not an ASCII one).
gettext_noop(":")


def _limit(field: forms.Field, limit: int) -> None:
    """A length limit from settings (read at form time, not import time)."""
    field.max_length = limit
    field.widget.attrs["maxlength"] = limit
    field.validators.append(MaxLengthValidator(limit))


class EntryInputsForm(forms.ModelForm):
    """The notes a generation is written from; the page and the socket both validate with it."""

    class Meta:
        model = DiaryEntry
        fields = DiaryEntry.INPUT_FIELDS
        widgets = {
            "date": forms.DateInput(attrs={"type": "date"}),
            "morning": forms.Textarea(attrs={"rows": 3}),
            "afternoon": forms.Textarea(attrs={"rows": 3}),
            "evening": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in NOTE_FIELDS:
            _limit(self.fields[name], settings.DIARY_MAX_NOTE_CHARS)

    def clean(self):
        cleaned = super().clean()
        if not any((cleaned.get(name) or "").strip() for name in NOTE_FIELDS):
            # On the first note, where the person starts writing: the page marks and focuses it.
            self.add_error(
                "morning",
                forms.ValidationError(
                    _("Write at least a few words about your morning, afternoon or evening."),
                    code="empty",
                ),
            )
        return cleaned


class EntryTextForm(forms.ModelForm):
    """The owner's own edit of an entry's text."""

    class Meta:
        model = DiaryEntry
        fields = ("text",)
        widgets = {"text": forms.Textarea(attrs={"rows": 16})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _limit(self.fields["text"], settings.DIARY_MAX_TEXT_CHARS)


class EntryOwnTextForm(forms.ModelForm):
    """A new entry written by hand: the text itself, no notes, no model."""

    class Meta:
        model = DiaryEntry
        fields = ("date", "text", "tone", "language")
        widgets = {
            "date": forms.DateInput(attrs={"type": "date"}),
            "text": forms.Textarea(attrs={"rows": 16}),
        }
        labels = {"text": _("Your entry")}
        help_texts = {"text": ""}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _limit(self.fields["text"], settings.DIARY_MAX_TEXT_CHARS)
        self.fields["text"].required = True
        self.fields["text"].error_messages["required"] = _("Write your entry here first.")
        self.fields["tone"].help_text = _("Used if you later ask Nikki to write it.")


# --- Calendar, search, history, export, settings, account ---------------------------------------


# A browser's date picker sends and shows the ISO form, whatever the interface's language.
ISO_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search your entries"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "autocomplete": "off", "aria-describedby": "search-help"}
        ),
    )
    date_from = forms.DateField(
        label=_("From"), required=False, input_formats=["%Y-%m-%d"], widget=ISO_DATE
    )
    date_to = forms.DateField(
        label=_("To"), required=False, input_formats=["%Y-%m-%d"], widget=ISO_DATE
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if first and last and first > last:
            cleaned["date_from"], cleaned["date_to"] = last, first  # the range either way round
        return cleaned


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA time zone this machine knows, sorted (legacy aliases left out)."""
    names = sorted(
        name
        for name in zoneinfo.available_timezones()
        if ("/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))) or name == "UTC"
    )
    return [(name, name.replace("_", " ")) for name in names]


class SettingsForm(forms.Form):
    """A person's preferences: the name on shared pages, the interface language, how entries
    are written, the time zone."""

    display_name = forms.CharField(
        label=_("Display name"),
        required=False,
        max_length=80,
        help_text=_(
            "How the entries you share name you. Empty: “A Nikki user”. Your username is never "
            "shown."
        ),
    )
    ui_language = forms.ChoiceField(
        label=_("Interface language"),
        required=False,
        help_text=_("The language of menus, buttons and messages."),
    )
    default_language = forms.ChoiceField(
        label=_("Default writing language"),
        required=False,
        help_text=_("The language new entries are written in; you can change it per entry."),
    )
    default_tone = forms.ChoiceField(label=_("Default tone"), choices=Tone.choices)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        help_text=_("Decides what “today” is for you and how times are shown."),
    )
    keep_names_from_model = forms.BooleanField(
        label=_("Keep these names from the model"),
        required=False,
        help_text=_(
            "Before your notes are sent to the language model, the names below are replaced by "
            "placeholders such as [P1]; the names are put back in the entry as it is written."
        ),
    )
    private_names = forms.CharField(
        label=_("Names to keep from the model"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ui_language"].choices = [
            ("", pgettext_lazy("interface language", "Same as the browser")),
            *Language.choices,
        ]
        self.fields["default_language"].choices = [
            ("", pgettext_lazy("writing language", "Same as the interface")),
            *Language.choices,
        ]
        site_zone = _("The site's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}
        zones = time_zone_choices()
        current = self.initial.get("time_zone")
        if current and current not in dict(zones) and current in zoneinfo.available_timezones():
            zones.append((current, current))  # an alias set elsewhere stays selectable
        self.fields["time_zone"].choices = [("", site_zone), *zones]
        self.fields["private_names"].help_text = _(
            "One name a line: people and places, as you write them in your notes (e.g. Alice, "
            "Kyoto, 田中). Up to %(count)d names of %(min)d to %(max)d characters each."
        ) % {"count": MAX_NAMES, "min": MIN_NAME_CHARS, "max": MAX_NAME_CHARS}
        # Room for the longest list and its line breaks; more is refused before parsing.
        _limit(self.fields["private_names"], MAX_NAMES * (MAX_NAME_CHARS + 2))

    def clean_private_names(self) -> str:
        names = parse_names(self.cleaned_data["private_names"])
        errors = []
        if len(names) > MAX_NAMES:
            errors.append(
                forms.ValidationError(
                    _("List at most %(max)d names (you listed %(count)d)."),
                    code="too_many",
                    params={"max": MAX_NAMES, "count": len(names)},
                )
            )
        for name in names:
            if len(name) > MAX_NAME_CHARS:
                errors.append(
                    forms.ValidationError(
                        _("“%(name)s” is longer than %(max)d characters."),
                        code="too_long",
                        params={"name": name[:20] + "…", "max": MAX_NAME_CHARS},
                    )
                )
            elif len(name) < MIN_NAME_CHARS:
                errors.append(
                    forms.ValidationError(
                        _(
                            "“%(name)s” is too short: a name needs at least %(min)d characters "
                            "(list a one-character name with what follows it, e.g. 林さん)."
                        ),
                        code="too_short",
                        params={"name": name, "min": MIN_NAME_CHARS},
                    )
                )
            elif not any(ch.isalnum() for ch in name):
                errors.append(
                    forms.ValidationError(
                        _("“%(name)s” has no letters."), code="no_letters", params={"name": name}
                    )
                )
        if errors:
            raise forms.ValidationError(errors)
        return "\n".join(names)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("keep_names_from_model") and cleaned.get("private_names") == "":
            self.add_error(
                "private_names",
                forms.ValidationError(
                    _("List at least one name to keep from the model, or turn the option off."),
                    code="empty",
                ),
            )
        return cleaned


class AccountDeleteForm(forms.Form):
    """Deleting an account asks for the password again."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, request, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        # Through authenticate(), so repeated wrong passwords count towards django-axes' lockout.
        checked = authenticate(self.request, username=user.get_username(), password=password)
        if checked is None or checked.pk != user.pk:
            raise forms.ValidationError(
                _("That is not your password. Your account is not deleted."), code="wrong"
            )
        return password
