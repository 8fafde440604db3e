"""Images: stores and annotated renders."""
