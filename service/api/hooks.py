"""Checks that run before a responder reads the body."""

from __future__ import annotations

import io

import falcon

# RFC 8259: JSON exchanged between systems is UTF-8. Another declared charset would be
# decoded as UTF-8 anyway and read wrongly, so it is refused instead.
_UTF8 = frozenset({"utf-8", "utf8"})


def require_json_body(req: falcon.Request, resp: falcon.Response, resource, params) -> None:
    """Answer 415 unless the body is UTF-8 JSON, 413 when it exceeds ``resource.max_body_bytes``.

    A declared size is checked before anything is read, so an oversized body costs nothing.
    A body sent without Content-Length (chunked) is read up to one byte past the limit.
    """
    media_type, _, parameters = (req.content_type or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type != falcon.MEDIA_JSON:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"send the body as {falcon.MEDIA_JSON}, not {media_type or 'nothing'}",
        )
    charset = _charset(parameters)
    if charset is not None and charset not in _UTF8:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"send {falcon.MEDIA_JSON} in UTF-8, not charset={charset[:40]}",
        )
    limit = resource.max_body_bytes
    # An unreadable Content-Length raises falcon.HTTPInvalidHeader here: a JSON 400.
    length = req.content_length
    if length is not None and length > limit:
        raise falcon.HTTPContentTooLarge(
            title="Body too large",
            description=f"the body has {length} bytes; the limit is {limit}",
        )
    if length is None and _buffer_unsized_body(req, limit) > limit:
        raise falcon.HTTPContentTooLarge(
            title="Body too large",
            description=f"the body, sent without Content-Length, exceeds the limit of {limit}",
        )


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _buffer_unsized_body(req: falcon.Request, limit: int) -> int:
    """Read a body that came without Content-Length, never more than ``limit + 1`` bytes.

    Only a server that marks its input as terminated (``wsgi.input_terminated``, as waitress
    does after decoding a chunked body) may be read to its end; without that mark PEP 3333
    allows no read, and Falcon sees an empty body.

    Returns:
        The number of bytes read; more than ``limit`` when the body is too large.
    """
    if not req.env.get("wsgi.input_terminated"):
        return 0
    data = req.env["wsgi.input"].read(limit + 1)
    req.env["wsgi.input"] = io.BytesIO(data)
    req.env["CONTENT_LENGTH"] = str(len(data))
    return len(data)
