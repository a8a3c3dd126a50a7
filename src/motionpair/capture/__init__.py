"""Real camera capture: dance video → pose → LiveDirector-format sessions (docs/capture.md).

video.py    PyAV decode on each frame's own PTS; the video's audio
pose.py     MediaPipe BlazePose (bundled model, CPU, offline), cached per (video, estimator)
camsync.py  camera offsets from audio onset-envelope cross-correlation
session.py  writes the playlist (prep-audio recipe) and the session; bad video → Problem
evidence.py alignment evidence for dense captured pairs; overlay.py skeleton-on-frame PNG
"""
