"""The API's own documentation: the OpenAPI document, Swagger UI and ReDoc, served offline."""
