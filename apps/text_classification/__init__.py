"""Text classification task: CSV/TSV/JSONL/folders of text in; labels out of the served graph."""

from tfapps.apps.text_classification.task import TextClassificationTask

TASK = TextClassificationTask()

__all__ = ["TASK", "TextClassificationTask"]
