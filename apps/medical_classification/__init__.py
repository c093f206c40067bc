"""Medical image classification task: DICOM/PNG/NIfTI/MedMNIST in; labels, scores and Grad-CAM
saliency out of the served graph."""

from tfapps.apps.medical_classification.task import MedicalClassificationTask

TASK = MedicalClassificationTask()

__all__ = ["TASK", "MedicalClassificationTask"]
