"""A job's log: everything a step says, and why it failed, in the file the workflow gives it.

``job_log(path)`` appends to `path` (a rerun adds to the log of the run before, with a line
marking the start): Python logging, warnings, and the process's stderr itself (file
descriptor 2, so messages of C libraries such as HDF5 land there too). When the step raises,
the log gets the one-line error and, below it, the traceback; the terminal (Snakemake's
stderr) gets the one-line error and the log's path, and the job exits with status 1, so
Snakemake's own "Error in rule" message stands next to a line saying what went wrong.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import sys
import traceback
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to(path: str | os.PathLike | None, level: int = logging.INFO) -> logging.Logger:
    """Route `logging` and warnings to `path` (appending; stderr when None)."""
    handler: logging.Handler
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="a")
    else:
        handler = logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=level, handlers=[handler], force=True, format=_FORMAT)
    logging.captureWarnings(True)
    return logging.getLogger("levelpipe")


def one_line(err: BaseException) -> str:
    """The error as one line: LevelpipeError's own ``file:place: what``, else ``Type: message``."""
    from levelpipe.errors import LevelpipeError
    text = str(err) if isinstance(err, LevelpipeError) else f"{type(err).__name__}: {err}"
    return " ".join(text.split()) or type(err).__name__


@contextlib.contextmanager
def job_log(path: str | os.PathLike | None, rule: str | None = None, level: int = logging.INFO):
    """Run the block with the job's output going to `path`; see the module docstring."""
    if not path:
        log_to(None, level)
        yield logging.getLogger("levelpipe")
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    with open(path, "a", buffering=1) as f:
        stamp = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        f.write(f"== {stamp} {rule or 'levelpipe step'} (pid {os.getpid()})\n")
        f.flush()
        sys.stderr.flush()
        os.dup2(f.fileno(), 2)
        logger = log_to(path, level)
        try:
            yield logger
        except BaseException as err:  # noqa: BLE001 - every failure is logged, then the job fails
            if isinstance(err, SystemExit) and not err.code:
                raise
            message = one_line(err)
            logging.getLogger("levelpipe").error("%s", message)
            sys.stderr.flush()
            with open(path, "a") as g:
                g.write("".join(traceback.format_exception(err)))
            terminal.write(f"levelpipe: {rule + ': ' if rule else ''}{message}\n  (log: {path})\n")
            terminal.flush()
            raise SystemExit(1) from None
        finally:
            logging.shutdown()
            sys.stderr.flush()
            os.dup2(terminal.fileno(), 2)
            terminal.close()
