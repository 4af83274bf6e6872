"""Seeds the changes app's policy data; `manage.py load_policy` calls `load()`."""

from . import maintenance_policy


def load() -> str:
    return maintenance_policy.load()
