"""Images sent to the API: one dependency (`ImageUpload`) reads them and their fields from a
multipart form or a JSON body, and documents both ways."""

from roadhazard.uploads.dependency import ImageUpload, Upload

__all__ = ["ImageUpload", "Upload"]
