"""An immutable in-memory project: ``{relative path: bytes}`` with a content digest.

Generation returns a FileSet and never touches the disk; writing, compiling and
running are separate calls. The digest names compiled artefacts in the C-sim cache,
so it covers paths and contents only (no timestamps, sorted order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType


class FileSet(Mapping[str, bytes]):
    """Frozen mapping of POSIX-style relative paths to file contents."""

    __slots__ = ("_files",)

    def __init__(self, files: Mapping[str, bytes | str]) -> None:
        clean = {_check_path(p): (c.encode() if isinstance(c, str) else bytes(c))
                 for p, c in files.items()}
        self._files = MappingProxyType(dict(sorted(clean.items())))

    def __getitem__(self, path: str) -> bytes:
        return self._files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"FileSet({len(self)} files, digest={self.digest()[:12]})"

    def text(self, path: str) -> str:
        return self._files[path].decode()

    def digest(self) -> str:
        """sha256 over sorted (path, length, content): equal digests == equal projects."""
        h = hashlib.sha256()
        for path, content in self._files.items():
            h.update(path.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
        return h.hexdigest()

    def with_file(self, path: str, content: bytes | str) -> FileSet:
        """A new FileSet with one file added or replaced (the original is untouched)."""
        return FileSet({**self._files, path: content})

    def write(self, folder: str | Path) -> list[Path]:
        """Write every file under ``folder`` (created); return the written paths, sorted."""
        root = Path(folder)
        written = []
        for path, content in self._files.items():
            dest = root / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.is_file() or dest.read_bytes() != content:  # keep mtimes for make
                dest.write_bytes(content)
            written.append(dest)
        return written

    @classmethod
    def from_dir(cls, folder: str | Path) -> FileSet:
        """Read a written project back (every regular file below ``folder``)."""
        root = Path(folder)
        return cls({p.relative_to(root).as_posix(): p.read_bytes()
                    for p in sorted(root.rglob("*")) if p.is_file()})


def _check_path(path: str) -> str:
    """Reject absolute paths and ``..`` so a FileSet can never write outside its folder."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"FileSet paths must be relative and inside the project: {path!r}")
    return p.as_posix()
