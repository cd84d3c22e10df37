"""Checks that run before a responder reads the body."""

from __future__ import annotations

import falcon


def require_json_body(req: falcon.Request, resp: falcon.Response, resource, params) -> None:
    """Answer 415 unless the body is JSON, and 413 when it exceeds ``resource.max_body_bytes``.

    The size is checked before anything is read, so an oversized body costs nothing.
    """
    media_type = (req.content_type or "").split(";")[0].strip().lower()
    if media_type != falcon.MEDIA_JSON:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"send the body as {falcon.MEDIA_JSON}, not {media_type or 'nothing'}",
        )
    length = req.content_length
    if length is not None and length > resource.max_body_bytes:
        raise falcon.HTTPContentTooLarge(
            title="Body too large",
            description=f"the body has {length} bytes; the limit is {resource.max_body_bytes}",
        )
