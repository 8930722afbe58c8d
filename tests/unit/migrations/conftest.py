import pytest

from tests.support.migrations import migrate_to_latest


@pytest.fixture(autouse=True)
def _back_to_the_latest():
    yield
    migrate_to_latest()
