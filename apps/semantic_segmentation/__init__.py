"""Semantic segmentation task: image and mask folders in, class masks out of the served graph."""

from tfapps.apps.semantic_segmentation.task import SemanticSegmentationTask

TASK = SemanticSegmentationTask()

__all__ = ["TASK", "SemanticSegmentationTask"]
