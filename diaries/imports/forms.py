from django import forms
from django.utils.translation import gettext_lazy as _


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File to import"),
        help_text=_(
            "A Nikki JSON export, a Day One export (the zip, or its Journal.json), or a "
            "Markdown or text file with a date in its name or on its first line."
        ),
    )
