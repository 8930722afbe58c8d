"""Sent by `manage.py rotate_keys` once every data key is wrapped under the first server key:
whatever else an app seals with the server keys re-seals it here. A receiver returns a line for
the command to print."""

from django.dispatch import Signal

server_keys_rotated = Signal()
