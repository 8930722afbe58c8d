"""Writes, one module per domain. Every change to diaries goes through a function here.

`entries` (inputs, edits, versions, delete), `generations` (start, checkpoint, end, sweep,
stop), `usage` (the daily quota), `accounts` (settings, delete, deactivate), `sharing` (share,
unshare, report), `trash` (trash, restore, empty, sweep), `checks` (the automatic moderation
check), `moderation` (moderators' decisions and the audit trail). Import the module you need:
`from diaries.services import entries`. Functions are synchronous; async callers wrap them with
`database_sync_to_async`.
"""
