"""Sensing (感知): observations from gauges and detectors — batch HTTP, SensorThings, MQTT —
into one durable time series, with detections turned into cases."""
