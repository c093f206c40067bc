"""Extractive question answering task: SQuAD JSON in; answers out of the served graph."""

from tfapps.apps.question_answering.task import QuestionAnsweringTask

TASK = QuestionAnsweringTask()

__all__ = ["QuestionAnsweringTask", "TASK"]
