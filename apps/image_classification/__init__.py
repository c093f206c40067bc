"""Image classification task: class folders or a CSV of images in, labels and scores out."""

from tfapps.apps.image_classification.task import ImageClassificationTask

TASK = ImageClassificationTask()

__all__ = ["TASK", "ImageClassificationTask"]
