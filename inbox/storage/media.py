"""Stored copies of customers' attachments: size-capped, content-type checked, named by
their SHA-256 (so a path is unguessable and a file sent twice is stored once), written
atomically. Served to logged-in agents only (ui/api/media.py)."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from pathlib import Path

# What we keep. Anything else is refused with a reason shown on the attachment: a
# customer's HTML or SVG file must never be served from our origin.
ALLOWED_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp",
    "video/mp4", "video/3gpp", "video/quicktime", "video/webm",
    "audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/wav", "audio/webm", "audio/opus",
    "application/pdf", "text/plain", "text/csv", "application/zip", "application/octet-stream",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/x-tgsticker",
})
# Types shown inline in the browser; the rest are served as downloads.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/webm",
                          "audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/wav", "audio/webm"})
_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
_EXTENSIONS = {"image/jpeg": ".jpg", "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "text/plain": ".txt",
               "application/octet-stream": ".bin", "image/webp": ".webp", "application/x-tgsticker": ".tgs"}


class MediaRejected(Exception):
    """The file is not one we keep; the message says why, for the agent."""


def normalise_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


class MediaStore:
    def __init__(self, root: str | Path, max_bytes: int) -> None:
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes

    def check(self, content: bytes, content_type: str) -> str:
        content_type = normalise_type(content_type)
        if len(content) > self.max_bytes:
            raise MediaRejected(f"file of {len(content):,} bytes is over the {self.max_bytes:,}-byte limit")
        if content_type not in ALLOWED_TYPES:
            raise MediaRejected(f"files of type {content_type or 'unknown'} are not kept")
        if content_type == "image/webp" and not (content[:4] == b"RIFF" and content[8:12] == b"WEBP"):
            raise MediaRejected("the file is not the image/webp it claims to be")
        magic = _MAGIC.get(content_type)
        if magic is not None and not content.startswith(magic):
            raise MediaRejected(f"the file is not the {content_type} it claims to be")
        return content_type

    def save(self, content: bytes, content_type: str) -> tuple[str, str]:
        """Keep the file; return (path relative to the root, checked content type)."""
        content_type = self.check(content, content_type)
        digest = hashlib.sha256(content).hexdigest()
        ext = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"
        rel = f"{digest[:2]}/{digest[2:4]}/{digest}{ext}"
        target = self.root / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        return rel, content_type

    def path(self, rel: str) -> Path | None:
        """The stored file for ``rel``, or None (also for anything outside the root)."""
        candidate = (self.root / rel).resolve()
        if self.root not in candidate.parents or not candidate.is_file():
            return None
        return candidate
