"""Object detection task: COCO / VOC / YOLO / CSV boxes in, boxes with labels out of the served graph."""

from tfapps.apps.object_detection.task import ObjectDetectionTask

TASK = ObjectDetectionTask()

__all__ = ["TASK", "ObjectDetectionTask"]
