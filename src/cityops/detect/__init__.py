"""Detectors (识别): pure, vectorised functions from observation columns to detections.

Nothing here touches storage or HTTP: `cityops.detect.cases` turns detections into cases.
"""
