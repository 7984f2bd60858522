"""What makes a folder an hwai run: the marker, the writer's lock, and the input record.

* ``.hwai-run.json`` is written by hwai alone (format version + hwai version), so a
  folder is treated as a run — and ``--force`` may delete it — only when it holds this
  marker; common names such as ``manifest.json`` prove nothing about who wrote them.
* ``.hwai-lock.json`` (PID, host, start time) keeps a second writer out while a run is
  in progress; a lock whose PID is dead on this host is stale and taken over.
* ``manifest.json`` records what the run was made from (resolved recipe, data file,
  seed/max_rows/split) and every checkpoint each step wrote, so ``--from`` can say
  exactly which input changed instead of trusting whatever is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Iterator

from hwai import __version__
from hwai.errors import RunFolderError

MARKER = ".hwai-run.json"
LOCK = ".hwai-lock.json"
MANIFEST = "manifest.json"
FORMAT = 1


# --- marker -------------------------------------------------------------------------

def write_marker(run_dir: Path) -> None:
    doc = {"tool": "hwai", "format": FORMAT, "hwai_version": __version__}
    (run_dir / MARKER).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def is_run(run_dir: Path) -> bool:
    """True only for a folder holding hwai's own marker with a format this hwai reads."""
    try:
        doc = json.loads((run_dir / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("tool") == "hwai" and doc.get("format") == FORMAT


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def clear_run(run_dir: Path) -> None:
    """Delete a marked run's contents (keeping our own lock); callers checked is_run first."""
    for p in sorted(run_dir.iterdir()):
        if p.name == LOCK:
            continue
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


# --- lock ---------------------------------------------------------------------------

def lock_holder(run_dir: Path) -> dict | None:
    """The live holder of the run's lock, or None (no lock, or a stale one on this host)."""
    try:
        doc = json.loads((run_dir / LOCK).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "started": "?"}  # unreadable: do not guess it is free
    if doc.get("host") == socket.gethostname() and not _pid_alive(int(doc.get("pid", -1))):
        return None
    return doc


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def holder_text(doc: dict) -> str:
    return f"pid {doc.get('pid')} on {doc.get('host')} since {doc.get('started')}"


def check_unlocked(run_dir: Path) -> None:
    holder = lock_holder(run_dir)
    if holder is not None:
        raise RunFolderError(f"{run_dir}: in use by another hwai run ({holder_text(holder)}); wait for it "
                             f"to finish, or delete {run_dir / LOCK} if that process is gone")


def acquire_lock(run_dir: Path) -> None:
    """Create the lock atomically (O_EXCL); a stale lock is replaced, a live one refused."""
    check_unlocked(run_dir)
    (run_dir / LOCK).unlink(missing_ok=True)  # stale (dead PID on this host)
    doc = {"pid": os.getpid(), "host": socket.gethostname(),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        fd = os.open(run_dir / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another writer won the race between the check and the create
        check_unlocked(run_dir)
        raise RunFolderError(f"{run_dir}: in use by another hwai run") from None
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc, sort_keys=True) + "\n")


def release_lock(run_dir: Path) -> None:
    try:
        doc = json.loads((run_dir / LOCK).read_text())
    except (OSError, ValueError):
        return
    if doc.get("pid") == os.getpid() and doc.get("host") == socket.gethostname():
        (run_dir / LOCK).unlink(missing_ok=True)


# --- manifest: inputs and checkpoints -------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def recipe_sha256(doc: Any) -> str:
    """Digest of the resolved recipe (after overrides), independent of YAML formatting."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def data_record(source: str) -> dict:
    path = Path(source).expanduser()
    if not path.is_file():  # e.g. openml:... — recorded by name only
        return {"source": source}
    return {"source": source, "path": str(path.resolve()), "size": path.stat().st_size,
            "sha256": sha256_file(path)}


def files_digest(root: Path, folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, keyed by path relative to ``root``."""
    if not folder.exists():
        return {}
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_manifest(run_dir: Path) -> dict:
    return _read_json(run_dir / MANIFEST)


def write_manifest(run_dir: Path, doc: dict) -> None:
    (run_dir / MANIFEST).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def first_difference(old: Any, new: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """(dotted path, old value, new value) of the first field that differs between two documents."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            diff = first_difference(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
            if diff:
                return diff
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            diff = first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return None
    return None if old == new else (path or "<recipe>", old, new)


def changed_files(root: Path, recorded: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(relative path, 'missing'|'modified') for each recorded file that is not as written."""
    for rel, sha in sorted(recorded.items()):
        p = root / rel
        if not p.is_file():
            yield rel, "missing"
        elif sha256_file(p) != sha:
            yield rel, "modified"


# --- listing ---------------------------------------------------------------------------

def list_runs(root: Path) -> list[dict[str, str]]:
    """One row (run, status, accuracy, lut, mismatches) per marked run folder under ``root``."""
    if not root.is_dir():
        return []
    return [_run_row(p, root) for p in sorted(root.iterdir()) if p.is_dir() and is_run(p)]


def _run_row(run: Path, root: Path) -> dict[str, str]:
    status, head = _read_json(run / "status.json"), _read_json(run / "report.json")
    acc = head.get("firmware_accuracy", head.get("compressed_accuracy"))
    lut = (head.get("estimate") or {}).get("lut")
    csim = head.get("csim") or {}
    state = str(status.get("status", "?"))
    if state == "running" and lock_holder(run) is None:
        state = "interrupted"  # its writer is gone (killed, machine rebooted)
    state += " (budget ignored)" if status.get("budget_ignored") else ""
    return {"run": run.relative_to(root).as_posix(), "status": state,
            "accuracy": f"{100 * acc:.2f}%" if isinstance(acc, (int, float)) else "-",
            "lut": f"{lut:,.0f}" if isinstance(lut, (int, float)) else "-",
            "mismatches": str(csim["mismatches"]) if "mismatches" in csim else "-"}


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
