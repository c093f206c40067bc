"""Medical (3D) segmentation task: NIfTI volumes in; class masks of the same size out of the served
graph, by sliding-window inference."""

from tfapps.apps.medical_segmentation.task import MedicalSegmentationTask

TASK = MedicalSegmentationTask()

__all__ = ["TASK", "MedicalSegmentationTask"]
