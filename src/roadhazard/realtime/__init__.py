"""Realtime interfaces: the WebSocket frame stream of a driving session (a dashcam sends its
frames over one connection, and hears each one's detections back)."""
