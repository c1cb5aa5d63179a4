"""Where a model's files come from: the source URIs of the registry, parsed.

``hf://org/repo[/subfolder][@revision]`` (the Hugging Face Hub, default revision ``main``),
``https://host/dir/`` (a folder: each file's path is appended) or ``https://host/f.pth``
(one file), ``gdrive://FILE_ID`` (one file on Google Drive). ``http://`` is accepted too,
for in-house mirrors on a studio network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class HfSource:
    repo: str
    revision: str = "main"
    subfolder: str | None = None

    kind = "hf"

    @property
    def pinned(self) -> bool:
        return bool(COMMIT_HASH.fullmatch(self.revision))

    def at(self, revision: str) -> HfSource:
        return HfSource(self.repo, revision, self.subfolder)

    def __str__(self) -> str:
        folder = f"/{self.subfolder}" if self.subfolder else ""
        return f"hf://{self.repo}{folder}@{self.revision}"


@dataclass(frozen=True)
class UrlSource:
    url: str

    kind = "url"

    @property
    def is_folder(self) -> bool:
        return self.url.endswith("/")

    def file_url(self, path: str) -> str:
        return self.url + path if self.is_folder else self.url

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class GdriveSource:
    file_id: str

    kind = "gdrive"

    def __str__(self) -> str:
        return f"gdrive://{self.file_id}"


Source = HfSource | UrlSource | GdriveSource


def parse_source(text: str) -> Source:
    """Parse one source URI; ValueError says what is wrong with it."""
    if text.startswith("hf://"):
        rest = text[len("hf://") :]
        where, _, revision = rest.partition("@")
        parts = where.strip("/").split("/")
        if len(parts) < 2 or not all(_REPO_PART.fullmatch(p) for p in parts[:2]):
            raise ValueError(f"{text!r}: expected hf://org/repo[/subfolder][@revision]")
        subfolder = "/".join(parts[2:]) or None
        return HfSource("/".join(parts[:2]), revision or "main", subfolder)
    if text.startswith("gdrive://"):
        file_id = text[len("gdrive://") :]
        if not re.fullmatch(r"[A-Za-z0-9_-]{10,}", file_id):
            raise ValueError(f"{text!r}: expected gdrive://FILE_ID")
        return GdriveSource(file_id)
    if text.startswith(("https://", "http://")):
        if not urlsplit(text).netloc:
            raise ValueError(f"{text!r}: no host")
        return UrlSource(text)
    raise ValueError(f"{text!r}: a source starts with hf://, https://, http:// or gdrive://")


def redact(url: str) -> str:
    """A URL fit for messages: no query string (presigned signatures), no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
