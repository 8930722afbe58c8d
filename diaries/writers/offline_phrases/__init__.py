"""The offline writer's words, one module per language: `en` and `ja`.

Each holds the vocabulary the writer reads the notes with and the phrases it writes with
(openings, section labels, transitions, comments, closings, a quiet day), by tone. Changing a
phrase changes the text the offline writer produces for the same notes.
"""
