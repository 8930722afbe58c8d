from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from .models import DiaryEntry

NOTE_FIELDS = ("morning", "afternoon", "evening", "notes")


def _limit(field: forms.Field, limit: int) -> None:
    """A length limit from settings (read at form time, not import time)."""
    field.max_length = limit
    field.widget.attrs["maxlength"] = limit
    field.validators.append(MaxLengthValidator(limit))


class EntryInputsForm(forms.ModelForm):
    """The notes a generation is written from; the page and the socket both validate with it."""

    class Meta:
        model = DiaryEntry
        fields = ("date", "morning", "afternoon", "evening", "notes", "tone", "language")
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
            raise forms.ValidationError(
                _("Write at least a few words about your morning, afternoon or evening."),
                code="empty",
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


class SignupForm(UserCreationForm):
    """Django's UserCreationForm (username, password1, password2) plus an optional email."""

    email = forms.EmailField(label=_("Email (optional, for password resets)"), required=False)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")
