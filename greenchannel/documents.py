"""Claim documents on disk: streamed in with a size limit, named by their SHA-256.

Files live under var/documents/<first two hex digits>/<sha256>. The same bytes uploaded twice
are stored once. The type is decided from the file's first bytes, never from what the client says.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import VAR_DIR
from greenchannel.errors import GreenChannelError, Invalid
from store.models import Claim, ClaimDocument

DOCUMENT_ROOT = VAR_DIR / "documents"
SIGNATURES = (  # (offset, magic bytes, content type)
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"%PDF-", "application/pdf"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftypheic", "image/heic"),
    (4, b"ftypheix", "image/heic"),
    (4, b"ftypmif1", "image/heif"),
)


class DocumentTooLarge(GreenChannelError):
    kind = "too_large"


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: str
    filename: str
    content_type: str


def detect_type(head: bytes) -> str | None:
    for offset, magic, content_type in SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return content_type
    return None


def safe_filename(name: str | None) -> str:
    """The last path component, printable, at most 200 characters (shown to staff, never used as a path)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    return base.strip()[:200] or "upload"


class Upload:
    """One file being received: write chunks, then finish() (or abort() on any error)."""

    def __init__(self, limit: int, root: Path = DOCUMENT_ROOT):
        self.limit, self.root = limit, root
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        handle, self._tmp = tempfile.mkstemp(dir=root / "tmp")
        self._file = os.fdopen(handle, "wb")
        self._hash = hashlib.sha256()
        self._head = b""
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise DocumentTooLarge(f"the file is larger than the limit of {self.limit} bytes", "file",
                                   code="file_too_large")
        if len(self._head) < 16:
            self._head += chunk[:16]
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self, filename: str | None) -> StoredFile:
        self._file.close()
        if self.size == 0:
            self.abort()
            raise Invalid("the file is empty", "file", code="empty_file")
        content_type = detect_type(self._head)
        if content_type is None:
            self.abort()
            raise Invalid("the file is not a JPEG, PNG, WebP or HEIC photo or a PDF", "file",
                          code="unsupported_type")
        digest = self._hash.hexdigest()
        target = self.root / digest[:2] / digest
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.unlink(self._tmp)
        else:
            os.replace(self._tmp, target)
        return StoredFile(digest, self.size, str(target), safe_filename(filename), content_type)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


def live_documents(session: Session, claim_id: int) -> list[ClaimDocument]:
    """The claim's documents that count (a returned document has to be sent again)."""
    return list(session.scalars(select(ClaimDocument).where(ClaimDocument.claim_id == claim_id,
                                                            ClaimDocument.status != "returned")
                                .order_by(ClaimDocument.id)))


def missing_kinds(session: Session, claim: Claim) -> list[str]:
    have = {d.kind for d in live_documents(session, claim.id)}
    return [kind for kind in claim.required_documents or [] if kind not in have]
