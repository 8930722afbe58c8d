"""Moderation checkers: may a text be published on a shared page?

Like `writers/`, they know nothing of Django: they take their configuration as arguments and
answer `check(text)` with a `Verdict`, or raise `CheckerError` when they cannot tell.

- `openai.OpenAIModerationChecker` — OpenAI's moderation endpoint, or a compatible server's;
- `wordlist.WordListChecker` — flags a text containing any word of a list (the site's own, else
  the small lists shipped per language in `wordlists/`);
- `base.NullChecker` — checks nothing (`DIARY_MODERATION=off`).

The Django side (which checker the settings ask for, when a text is checked, what a verdict
does to an entry) is `diaries.services.checks`.
"""
