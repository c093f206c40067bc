"""Machine translation task: parallel text in; translations out of the served graph."""

from tfapps.apps.translation.task import TranslationTask

TASK = TranslationTask()

__all__ = ["TASK", "TranslationTask"]
