"""Nikki's real ASGI application, plus the bench's counters (bench/instrument.py).

    daphne bench.nikki_asgi:application

BENCH_PATCHES=name,… applies bench/patches.py's variants (unset: Nikki exactly as it is).
"""

from bench.instrument import install, with_stats
from bench.patches import apply_from_env
from diary_project.asgi import application as _nikki

install()
apply_from_env()
application = with_stats(_nikki)
