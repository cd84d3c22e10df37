"""The HTTP API: Falcon resources, request validation, error handlers and the OpenAPI document."""
