"""What a file is, from its first bytes: the upload's own Content-Type and file name are not trusted."""

from __future__ import annotations

#: (content type, test on the first bytes), most specific first.
_SIGNATURES = (
    ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    # Phone cameras (iPhone) save HEIC/HEIF: an ISO-BMFF 'ftyp' box with a HEIF brand.
    ("image/heic", lambda head: head[4:8] == b"ftyp" and head[8:12] in {b"heic", b"heix", b"hevc", b"heim",
                                                                          b"heis", b"mif1", b"msf1"}),
    ("application/pdf", lambda head: head.startswith(b"%PDF-")),
)

#: Types an upload may be: photos from a phone camera, and scanned or electronic documents.
ALLOWED_CONTENT_TYPES = frozenset(content_type for content_type, _ in _SIGNATURES)


def sniff(data: bytes) -> str | None:
    """The content type ``data`` starts like, or None when it is none of ``ALLOWED_CONTENT_TYPES``."""
    head = data[:32]
    for content_type, matches in _SIGNATURES:
        if matches(head):
            return content_type
    return None
