"""Attachment bytes on disk, stored once per content hash.

``attachments_dir/ab/cd/<sha256>``: the same file sent twice (or by two customers) takes the
space once; the ``attachments`` rows (tenant-scoped) say who sent what under which name. A file
is written to a temporary name and renamed into place, so a reader never sees half of one.
Limits (``messaging.max_attachment_bytes``, ``messaging.attachment_types``) are checked
before anything is written.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAFE_FALLBACK_TYPE = "application/octet-stream"


class AttachmentRejected(ValueError):
    """An attachment over the size limit or of a type the settings do not allow; the
    message says which and why."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    storage_ref: str


class AttachmentStore:
    def __init__(self, root: Path, *, max_bytes: int, allowed_types: str) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.allowed = [t.strip().lower() for t in allowed_types.split(",") if t.strip()]

    @classmethod
    def from_settings(cls, settings: Any) -> AttachmentStore:
        return cls(settings["attachments_dir"],
                   max_bytes=settings["messaging.max_attachment_bytes"],
                   allowed_types=settings["messaging.attachment_types"])

    def check(self, filename: str, content_type: str, size: int) -> None:
        """Raise AttachmentRejected when the file may not be stored."""
        if size > self.max_bytes:
            raise AttachmentRejected(
                f"{filename!r} is {size} bytes; attachments may be at most {self.max_bytes}")
        kind = (content_type or SAFE_FALLBACK_TYPE).split(";", 1)[0].strip().lower()
        if not any(fnmatch.fnmatchcase(kind, pattern) for pattern in self.allowed):
            raise AttachmentRejected(
                f"{filename!r} is of type {kind}, which is not accepted here")

    def put(self, data: bytes, filename: str = "file",
            content_type: str = SAFE_FALLBACK_TYPE) -> StoredFile:
        """Check and store ``data``; returns its hash, size and where it is."""
        self.check(filename, content_type, len(data))
        digest = hashlib.sha256(data).hexdigest()
        ref = f"{digest[:2]}/{digest[2:4]}/{digest}"
        path = self.root / ref
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredFile(digest, len(data), ref)

    def path(self, storage_ref: str) -> Path:
        """The file of a stored reference (refs are only ever ``xx/yy/<sha256>``)."""
        parts = storage_ref.split("/")
        if len(parts) != 3 or not all(p.isalnum() for p in parts):
            raise ValueError(f"not an attachment reference: {storage_ref!r}")
        return self.root / storage_ref

    def read(self, storage_ref: str) -> bytes:
        return self.path(storage_ref).read_bytes()
