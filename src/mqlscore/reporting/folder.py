"""The report folder is switched, never mixed.

A training run's report is written into a hidden folder beside the target
(``<report-dir>/.report-<stamp>-<pid>.partial/``) and, only once it is complete,
moved to ``<report-dir>/reports/<stamp>-<label>/`` and made current by switching
one symbolic link, ``<report-dir>/current``, with an atomic rename. Every report
file is also reachable at the top of the folder through a link that goes through
``current`` (``model_card.md -> current/model_card.md``), so whoever opens
``models/model_card.md`` reads the current report, and every file read there
belongs to that same report: a killed run leaves the previous report in place,
never some new files beside an old model card.

A run that is killed leaves its ``.partial`` folder behind; the next run removes
it. Its owner is known to be gone because each writer holds an advisory lock
(``flock``) on ``.report-<stamp>-<pid>.lock`` while it writes, and the kernel
releases it when the process ends, however it ends. A partial folder whose lock
is held belongs to a training still running and is left alone.

Folders written by earlier versions of ``mqlscore train`` (report files directly
in the folder) are taken over without a moment of mixing: the files are first
copied into ``reports/<stamp>-earlier/``, made current, and each replaced by its
link (same content), before the new report is switched in.

POSIX only (symbolic links and ``flock``); ``README.md`` and files whose names
a report does not use are never touched.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

CURRENT = "current"
REPORTS = "reports"
PARTIAL_PREFIX = ".report-"
PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
# complete reports kept under reports/, the current one included (the others are history)
KEEP_REPORTS = 3
# files of a report written by an earlier mqlscore straight into the folder (README.md is the repository's)
_FLAT_SUFFIXES = (".md", ".png", ".csv")
_NEVER_TOUCHED = frozenset({"README.md"})


@dataclass
class StagedReport:
    """A report being written into ``folder`` (a ``.partial`` folder beside the
    target) and switched into ``report_dir`` by :meth:`publish`. As a context
    manager it removes the partial folder when the block raises."""

    report_dir: Path
    folder: Path
    name: str
    cleaned: list[Path] = field(default_factory=list)  # leftovers of killed runs, removed
    busy: list[Path] = field(default_factory=list)  # partial folders of trainings still running, left alone
    published: Path | None = None
    _lock: IO[bytes] | None = field(default=None, repr=False)
    _lock_path: Path | None = field(default=None, repr=False)

    def publish(self) -> Path:
        """Make the written report the current one and return its folder under
        ``reports/``. Until the single atomic switch of ``current`` the previous
        report stays whole; the top-level links are added before the switch (a
        new name shows nothing until then) and links to names the new report
        lacks are removed after it."""
        if self.published is not None:
            return self.published
        _sync_folder(self.folder)
        reports = self.report_dir / REPORTS
        reports.mkdir(exist_ok=True)
        target = _unique(reports / self.name)
        os.rename(self.folder, target)
        _fsync_dir(reports)
        _take_over_flat_files(self.report_dir)
        names = sorted(p.name for p in target.iterdir() if p.is_file())
        for name in names:
            _link_through_current(self.report_dir, name)
        _switch_current(self.report_dir, target)
        _remove_dangling_links(self.report_dir)
        _prune(self.report_dir)
        self.published = target
        self._release()
        return target

    def discard(self) -> None:
        """Remove the partial folder (a run that failed before publishing)."""
        if self.published is None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None and self._lock_path is not None:
            _drop_lock(self._lock, self._lock_path)
            self._lock = None

    def __enter__(self) -> StagedReport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.published is None:
            self.discard()


def stage_report(report_dir: Path, label: str) -> StagedReport:
    """Clean what killed runs left in ``report_dir`` and open a new partial folder
    beside the current report for a report named ``<UTC stamp>-<label>`` (e.g.
    ``v4`` or ``unregistered``); write into ``.folder``, then :meth:`StagedReport.publish`."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    cleaned, busy = clean_leftovers(report_dir)
    stamp = _stamp()
    folder, lock, lock_path = _new_partial(report_dir, f"{stamp}-{os.getpid()}")
    return StagedReport(report_dir, folder, f"{stamp}-{label}", cleaned, busy, _lock=lock, _lock_path=lock_path)


def clean_leftovers(report_dir: Path) -> tuple[list[Path], list[Path]]:
    """Remove the partial folders (and stray temporary links) of runs that died in
    ``report_dir``; return (removed, still being written by a live training)."""
    report_dir = Path(report_dir)
    cleaned: list[Path] = []
    busy: list[Path] = []
    if not report_dir.is_dir():
        return cleaned, busy
    for partial in sorted(report_dir.glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}")):
        lock_path = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX) + LOCK_SUFFIX)
        lock = _try_lock(lock_path) if lock_path.exists() else None
        if lock_path.exists() and lock is None:
            busy.append(partial)
            continue
        shutil.rmtree(partial, ignore_errors=True)
        cleaned.append(partial)
        if lock is not None:
            _drop_lock(lock, lock_path)
    for lock_path in report_dir.glob(f"{PARTIAL_PREFIX}*{LOCK_SUFFIX}"):  # locks whose folder is gone
        if not lock_path.with_name(lock_path.name.removesuffix(LOCK_SUFFIX) + PARTIAL_SUFFIX).exists():
            lock = _try_lock(lock_path)
            if lock is not None:
                _drop_lock(lock, lock_path)
    for tmp in report_dir.glob(f".{CURRENT}-*.tmp"):
        if tmp.is_symlink() and not _pid_alive(tmp.name.removeprefix(f".{CURRENT}-").removesuffix(".tmp")):
            tmp.unlink(missing_ok=True)
    return cleaned, busy


def current_report(report_dir: Path) -> Path | None:
    """The folder of the current report in ``report_dir`` (``None`` when there is none)."""
    link = Path(report_dir) / CURRENT
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _new_partial(report_dir: Path, tag: str) -> tuple[Path, IO[bytes], Path]:
    """A new partial folder and its held lock. The lock exists (and is held) before
    its folder, so a partial folder without a held lock belongs to a process that is gone."""
    base = f"{PARTIAL_PREFIX}{tag}"
    lock_path = report_dir / (base + LOCK_SUFFIX)
    lock = _hold_lock(lock_path)
    folder = report_dir / (base + PARTIAL_SUFFIX)
    folder.mkdir()
    return folder, lock, lock_path


def _drop_lock(lock: IO[bytes], lock_path: Path) -> None:
    lock_path.unlink(missing_ok=True)
    lock.close()  # closing releases the flock


def _hold_lock(path: Path) -> IO[bytes]:
    import fcntl

    handle = open(path, "wb")  # noqa: SIM115 - held open for the life of the partial folder
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


def _try_lock(path: Path) -> IO[bytes] | None:
    """The lock if nobody holds it, else ``None``."""
    import fcntl

    try:
        handle = open(path, "ab")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _pid_alive(text: str) -> bool:
    try:
        os.kill(int(text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _unique(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _sync_folder(folder: Path) -> None:
    """Flush the written files and the folder to disk, so that the rename that
    publishes them cannot outlive their content after a power cut."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_with_link(path: Path, target: str) -> None:
    """Point ``path`` at ``target`` in one atomic step (a file or a link there is replaced)."""
    tmp = path.with_name(f".{CURRENT}-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _switch_current(report_dir: Path, target: Path) -> None:
    _replace_with_link(report_dir / CURRENT, f"{REPORTS}/{target.name}")
    _fsync_dir(report_dir)


def _link_through_current(report_dir: Path, name: str) -> None:
    path = report_dir / name
    wanted = f"{CURRENT}/{name}"
    if path.is_symlink() and os.readlink(path) == wanted:
        return
    if path.exists() and not path.is_symlink() and not path.is_file():
        raise IsADirectoryError(f"{path} is in the way of the report file {name}")
    _replace_with_link(path, wanted)


def _flat_files(report_dir: Path) -> list[Path]:
    return sorted(p for p in report_dir.iterdir()
                  if p.is_file() and not p.is_symlink() and p.suffix in _FLAT_SUFFIXES
                  and p.name not in _NEVER_TOUCHED and not p.name.startswith("."))


def _take_over_flat_files(report_dir: Path) -> None:
    """Turn a report written straight into the folder (by an earlier version)
    into ``reports/<stamp>-earlier/`` behind ``current`` with no moment where the
    folder shows anything but that report: copy, make current, then replace each
    file by a link to its identical copy. Resumes a take-over that was killed."""
    flat = _flat_files(report_dir)
    if not flat:
        return
    current = current_report(report_dir)
    if current is None:
        stamp = _stamp()
        staging, lock, lock_path = _new_partial(report_dir, f"{stamp}-{os.getpid()}-earlier")
        for path in flat:
            shutil.copy2(path, staging / path.name)
        _sync_folder(staging)
        current = _unique(report_dir / REPORTS / f"{stamp}-earlier")
        os.rename(staging, current)
        _drop_lock(lock, lock_path)
        _switch_current(report_dir, current)
    for path in flat:
        copy = current / path.name
        if copy.is_file() and copy.read_bytes() == path.read_bytes():
            _link_through_current(report_dir, path.name)


def _remove_dangling_links(report_dir: Path) -> None:
    for path in report_dir.iterdir():
        if path.is_symlink() and path.name != CURRENT and os.readlink(path).startswith(f"{CURRENT}/") \
                and not path.exists():
            path.unlink(missing_ok=True)


def _prune(report_dir: Path) -> None:
    """Keep the current report and the newest others, ``KEEP_REPORTS`` in all."""
    current = current_report(report_dir)
    folders = sorted((p for p in (report_dir / REPORTS).iterdir() if p.is_dir() and not p.is_symlink()),
                     key=lambda p: p.name, reverse=True)
    kept = 1 if current is not None else 0
    for folder in folders:
        if current is not None and folder.resolve() == current:
            continue
        if kept < KEEP_REPORTS:
            kept += 1
            continue
        shutil.rmtree(folder, ignore_errors=True)
