"""Realtime interfaces: the WebSocket frame stream of a driving session (a dashcam sends its
frames over one connection, and hears each one's detections back), and the live feed of report
events as Server-Sent Events (GET /v1/reports/events)."""
