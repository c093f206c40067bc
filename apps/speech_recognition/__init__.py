"""Speech recognition task: audio manifests in; transcripts out of the served graph."""

from tfapps.apps.speech_recognition.task import SpeechRecognitionTask

TASK = SpeechRecognitionTask()

__all__ = ["TASK", "SpeechRecognitionTask"]
