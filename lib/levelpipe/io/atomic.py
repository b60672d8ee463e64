"""Write products atomically: a failed step never leaves a partial file or directory behind.

A product ``<dir>/<name>`` is written to ``<dir>/.levelpipe-tmp/<name>.tmp-<host>-<pid>-<random>
<suffix>`` and renamed into place when the writer's block succeeds; when the block fails, the
temporary file is removed; either way the temporary directory is removed once empty. Two
things that cleanup cannot do itself are handled here too:

- A writer killed with SIGKILL (OOM killer, SLURM after its time limit, kill -9 of a session)
  leaves its temporary file behind. So every `atomic_output` first removes those of the same
  product that no living writer owns (``_stale``): Snakemake runs at most one job per output,
  so the next run of the rule finds and removes what the killed one left. (A directory of
  their own, because listing the product's directory instead would cost every write a scan of
  all its siblings: 0.4 s at 100,000 granules, measured.)
- A full disk surfaces in most writers as an opaque library error (netCDF's "NetCDF: HDF
  error", ffmpeg's broken pipe). When the block fails, `atomic_output` asks the filesystem
  whether space (or the process's file-size limit) ran out, and if so raises `OutputError`
  saying so, naming the product. A block that succeeds on a filesystem left without room is
  refused too (some writers lose bytes silently: imageio-ffmpeg does not check ffmpeg's exit
  status), so a product cut short by a full disk is never renamed into place.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import shutil
import socket
import tempfile
from pathlib import Path

from levelpipe.errors import LevelpipeError

#: errno values that mean "the filesystem (or the process's limit) has no room for this write"
_SPACE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                 errno.EFBIG: "file too large"}
#: size of the probe file that asks the filesystem whether it still has room after a failure
_PROBE_BYTES = 64 * 1024
#: with this much free, a finished product is not suspected of having been cut short
_ROOMY = 64 << 20
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"
#: where a directory's products are written before they are renamed into it
TEMP_DIR = ".levelpipe-tmp"


class OutputError(LevelpipeError):
    """A product could not be written because its filesystem or a process limit ran out."""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _temp_pattern(path: Path) -> re.Pattern:
    return re.compile(re.escape(f"{path.name}.tmp-") + r"(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-")


def _process_start(pid: int) -> float | None:
    """Start time of process `pid` (seconds since the epoch), None if there is no such process.

    Read from /proc (Linux); elsewhere only existence is known, and a process that exists is
    taken to have started long ago (the cautious answer: its temp files are kept)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        stat = None
    if stat is not None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime
            boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                        if line.startswith("btime "))
            return boot + ticks / os.sysconf("SC_CLK_TCK")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0.0


def _stale(entry: Path, host: str, pid: int) -> bool:
    """Whether no living writer owns the temp file `entry` (made by `pid` on `host`).

    On this host: its process is gone, or started after the file was last written (a recycled
    PID cannot be the writer). Another host's file is stale as well: this job is the one
    Snakemake now runs for the product, and the only other writer there can be is a job of a
    crashed run that nobody waits for any more; removing its file makes it fail, and the
    product is this job's either way."""
    if host != _HOST:
        return True
    started = _process_start(pid)
    if started is None:
        return True
    try:
        written = entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    # 1 s of slack: /proc start times are in clock ticks, mtimes may be coarse
    return started > written + 1.0


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of `path` left by writers that were killed; return them."""
    path = Path(path)
    tdir = path.parent / TEMP_DIR
    pattern = _temp_pattern(path)
    start = f"{path.name}.tmp-"
    removed = []
    try:
        names = [n for n in os.listdir(tdir) if n.startswith(start)]
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for name in names:
        m = pattern.match(name)
        entry = tdir / name
        if m and _stale(entry, m["host"], int(m["pid"])):
            _remove(entry)
            removed.append(entry)
    return removed


def _tidy(tdir: Path) -> None:
    """Remove the temporary directory if no writer uses it any more."""
    with contextlib.suppress(OSError):  # ENOTEMPTY: another writer's file is in it
        os.rmdir(tdir)


def _make_temp(path: Path, prefix: str, suffix: str) -> Path:
    tdir = path.parent / TEMP_DIR
    for attempt in range(20):
        tdir.mkdir(parents=True, exist_ok=True)
        if not attempt:
            remove_stale_temps(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=tdir)
        except FileNotFoundError:
            continue  # another writer removed the empty directory between mkdir and mkstemp
        os.close(fd)
        return Path(tmp)
    raise FileNotFoundError(errno.ENOENT, "temporary directory keeps disappearing", str(tdir))


def _errno_in_chain(err: BaseException) -> int | None:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _SPACE_ERRNOS:
            return err.errno
        err = err.__cause__ or err.__context__
    return None


def _largest_file(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        sizes = [p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        return max(sizes, default=0)
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def _probe_space(directory: Path, prefix: str) -> int | None:
    """Ask the filesystem of `directory` for a little room: the errno if it refuses for lack of
    space or quota, None if it has room (or cannot tell)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=prefix, suffix=".probe", dir=directory)
    except OSError as err:
        return err.errno if err.errno in _SPACE_ERRNOS else None
    try:
        try:
            os.posix_fallocate(fd, 0, _PROBE_BYTES)
        except OSError as err:
            if err.errno in _SPACE_ERRNOS:
                return err.errno
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return None
            # no fallocate on this filesystem: write the bytes and make it commit them
            try:
                os.write(fd, b"\0" * _PROBE_BYTES)
                os.fsync(fd)
            except OSError as err2:
                return err2.errno if err2.errno in _SPACE_ERRNOS else None
        return None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def _describe_space(directory: Path) -> str:
    if directory.name == TEMP_DIR:
        directory = directory.parent  # the user's name for the place: the product's directory
    try:
        st = os.statvfs(directory)
    except OSError:
        return f"filesystem of {directory}"
    # a filesystem can also run out of inodes (files) with bytes to spare
    inodes = ", no inodes free" if st.f_files and not st.f_favail else ""
    return f"{st.f_bavail * st.f_frsize} bytes{inodes} free on the filesystem of {directory}"


def space_problem(err: BaseException, tmp: Path, directory: Path, prefix: str) -> str | None:
    """Why a failed write failed, if it is a lack of room: a one-line reason, else None.

    The errno when the error carries one; otherwise (libraries that turn ENOSPC into their own
    message) the file-size limit compared with what was written, then a probe of the filesystem,
    made before the partial file is removed, while the filesystem is as the writer left it."""
    code = _errno_in_chain(err)
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if code in (None, errno.EFBIG) and soft != resource.RLIM_INFINITY and _largest_file(tmp) >= soft:
        return f"file size limit reached while writing (ulimit -f: {soft} bytes per file)"
    if code is None:
        code = _probe_space(directory, prefix)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"{_SPACE_ERRNOS[code]} while writing (disk full: {_describe_space(directory)})"
    if code == errno.EFBIG:
        return "file too large for its filesystem while writing"
    return None


def _full_after_write(directory: Path, prefix: str) -> str | None:
    """A reason to refuse a product whose writer reported success on a filesystem that is now
    full: some writers lose bytes without an error (imageio-ffmpeg ignores ffmpeg's exit
    status, so a movie cut short by ENOSPC looked complete). Plenty of room: one statvfs."""
    try:
        st = os.statvfs(directory)
        if st.f_bavail * st.f_frsize >= _ROOMY:
            return None
    except OSError:
        return None
    code = _probe_space(directory, prefix)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"{_SPACE_ERRNOS[code]} after writing: the file may be incomplete "
                f"(disk full: {_describe_space(directory)})")
    return None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path next to `path`; move it into place only if the block succeeds.

    The block may write a file at the yielded path or replace it by a directory (for products
    that are a folder of files); either way the result appears at `path` in one rename. Raises
    `OutputError` (one line naming `path`) when the write failed for lack of space.
    """
    path = Path(path)
    prefix = f"{path.name}.tmp-{_HOST}-{os.getpid()}-"
    tdir = path.parent / TEMP_DIR
    try:
        tmp = _make_temp(path, prefix, path.suffix if suffix is None else suffix)
    except OSError as err:
        if err.errno in _SPACE_ERRNOS:
            raise OutputError(f"{_SPACE_ERRNOS[err.errno]} creating the product "
                              f"(disk full: {_describe_space(path.parent)})", path) from err
        raise
    # mkstemp creates 0600; products are shared files, so give them the usual umask mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        full = _full_after_write(tdir, prefix)
        if full:
            raise OutputError(full, path)
        if tmp.is_dir() and path.exists():
            _remove(path)
        os.replace(tmp, path)
    except BaseException as err:
        reason = None
        if not isinstance(err, (LevelpipeError, KeyboardInterrupt, SystemExit, MemoryError)):
            reason = space_problem(err, tmp, tdir, prefix)
        _remove(tmp)
        if reason:
            raise OutputError(reason, path) from err
        raise
    finally:
        _tidy(tdir)
