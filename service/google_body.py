"""Request bodies of the Google-compatible surfaces as Google's front end reads them: ``Content-Encoding: gzip`` too.

Google's Java and .NET client libraries compress the body of every call by default (the Java client's
``disableGZipContent`` and the .NET client's ``GZipEnabled`` say so) and Google's front end decompresses it; a body in
any other encoding is refused with 415, as on ``/v1``. A gzip body is decompressed up to ``MAX_CONTENT_LENGTH`` bytes,
the cap on a body sent uncompressed, so that a small body that unpacks to gigabytes is refused before it is whole.
"""

from __future__ import annotations

import zlib

from flask import request

from service.api_v1 import _check_content_encoding as check_content_encoding
from service.google_errors import GoogleApiError, error_info, invalid_argument
from service.limits import read_body

GZIP_NAMES = ("gzip", "x-gzip")
"""``Content-Encoding`` names of gzip (RFC 9110 8.4.1.3)."""
GZIP_WBITS = 16 + zlib.MAX_WBITS
"""zlib's window bits for a gzip header and trailer."""
MAX_GZIP_MEMBERS = 16
"""gzip members read one after another in a body (a client sends one): zlib copies what follows each member, so a body
of thousands of empty 20-byte members would take seconds of a worker's time (52 s for 8 MiB of them)."""


def is_gzip(content_encoding: str | None) -> bool:
    """True for a ``Content-Encoding`` of gzip."""
    return (content_encoding or "").strip().lower() in GZIP_NAMES


def gunzip(data: bytes, limit: int | None) -> bytes:
    """A request body sent gzip-compressed, decompressed: a 400 if it is not whole gzip, a 413 past ``limit`` bytes.

    Every member is read (RFC 1952 2.2: a gzip file may be several, one after another, as ``gzip.decompress`` reads it),
    ``limit`` counting them all: zlib stops at the end of the first, and what followed it was dropped without a word.
    """
    pieces: list[bytes] = []
    size = 0
    while len(pieces) < MAX_GZIP_MEMBERS:
        decompressor = zlib.decompressobj(GZIP_WBITS)
        try:
            piece = decompressor.decompress(data, 0 if limit is None else limit - size + 1)
        except zlib.error as error:  # "Error -3 while decompressing data: incorrect header check"
            raise _not_gzip(str(error).rpartition(": ")[2]) from error
        pieces.append(piece)
        size += len(piece)
        if limit is not None and size > limit:
            raise GoogleApiError(413, f"request body is larger than {limit} bytes uncompressed",
                                 [error_info("REQUEST_ENTITY_TOO_LARGE")], code="request_entity_too_large")
        if not decompressor.eof:
            raise _not_gzip("cut short")
        data = decompressor.unused_data
        if not data:
            return b"".join(pieces)
    raise invalid_argument("", f"request body has more than {MAX_GZIP_MEMBERS} gzip members one after another; "
                               "compress it as one")


def _not_gzip(why: str) -> GoogleApiError:
    """The 400 for a body that says it is gzip and is not."""
    return invalid_argument("", f"request body is not valid gzip ({why}); send it gzip-compressed whole, or uncompressed "
                                "without Content-Encoding")


def request_bytes() -> bytes:
    """The request body, decompressed when its ``Content-Encoding`` is gzip; a 415 for any other encoding."""
    if not is_gzip(request.headers.get("Content-Encoding")):
        check_content_encoding()
        return read_body(cache=False)
    return gunzip(read_body(cache=False), request.max_content_length)
