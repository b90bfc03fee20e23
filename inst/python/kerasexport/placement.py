"""Putting a staged artifact at its path so that the path holds, at every
instant, the old artifact or the new one, and never loses a user's file.

An export writes into a hidden staging folder beside the path
(``.<name>.kerasexport-<pid>-<random>``), which holds a lock for as long as
its export runs. Placing the artifact is then:

* a new path: each file is renamed in with RENAME_NOREPLACE, so that of two
  exports racing to the same new path, the second gets "already exists"
  instead of replacing the first's artifact;
* replacing an artifact: each file is exchanged with the old one
  (RENAME_EXCHANGE), companions (an ONNX ``.data``, an OpenVINO ``.bin``)
  first and the file that names them last; the old artifact ends in the
  staging folder, which is then removed.

Linux has both flags (renameat2, on the file systems that matter). Where
they are missing, a new file is linked in (which also refuses an existing
path) and an old artifact is moved aside before the new one moves in. Each
step is written to a journal in the staging folder first, so that an export
killed in between (SIGKILL, power loss) is finished or undone by the next
call that touches the path: ``recover`` puts the old artifact back when the
new one did not arrive whole.
"""

import ctypes
import errno
import fcntl
import functools
import json
import os
import shutil
import tempfile

from kerasexport.errors import ArtifactError

_NOREPLACE, _EXCHANGE = 1, 2
_AT_FDCWD = -100
_JOURNAL = ".kerasexport-journal"
_LOCK = ".kerasexport-lock"


@functools.lru_cache(maxsize=None)
def _renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _rename(source, target, flags):
    """renameat2(); False where the system or file system lacks it."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), target)


# --- staging folders ---------------------------------------------------------------

def staging_prefix(path):
    return f".{os.path.basename(path)}.kerasexport-"


def make_staging(path):
    """A new staging folder beside ``path``, locked by this process: (its
    path, the open lock file, to keep until the export ends)."""
    folder = tempfile.mkdtemp(prefix=staging_prefix(path) + f"{os.getpid()}-",
                              dir=os.path.dirname(path))
    lock = open(os.path.join(folder, _LOCK), "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return folder, lock


def _is_abandoned(folder):
    """Whether the export that made ``folder`` has ended: its lock is free.
    (A folder from before the lock: its process is gone.)"""
    try:
        handle = open(os.path.join(folder, _LOCK), "r")
    except FileNotFoundError:
        pid = os.path.basename(folder).rsplit(".kerasexport-", 1)[-1].split("-", 1)[0]
        return pid.isdigit() and not _process_alive(int(pid))
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(folder_of):
    """Finish or undo what killed exports left in the folder ``folder_of``
    (the folder of an artifact path): an artifact moved aside and not
    replaced is put back, and every abandoned staging folder is removed.
    Returns the names removed."""
    try:
        names = os.listdir(folder_of)
    except OSError:
        return []
    removed = []
    for name in names:
        if ".kerasexport-" not in name or not name.startswith("."):
            continue
        staging = os.path.join(folder_of, name)
        if not os.path.isdir(staging) or not _is_abandoned(staging):
            continue
        _undo(staging)
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(name)
    return removed


def _undo(staging):
    """Put back an old artifact that a killed export had moved aside (the
    fallback without RENAME_EXCHANGE) when its new one is not all there."""
    try:
        with open(os.path.join(staging, _JOURNAL), encoding="utf-8") as handle:
            journal = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return
    moved_in = {step["target"] for step in journal if step["step"] == "in"}
    aside = [step for step in journal if step["step"] == "aside"]
    complete = any(step["step"] == "done" for step in journal)
    if complete:
        return
    for step in aside:
        target, backup = step["target"], step["backup"]
        if target in moved_in and os.path.lexists(target):
            _remove(target)
        if os.path.lexists(backup) and not os.path.lexists(target):
            os.rename(backup, target)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.remove(path)


# --- placing ------------------------------------------------------------------------

class _Journal:
    def __init__(self, staging):
        self._path = os.path.join(staging, _JOURNAL)

    def write(self, **step):
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(step) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def place(staging, new, old, path):
    """Move ``new`` [(staged file, target)] into place; ``old`` lists the
    files of the artifact being replaced (empty for a new path). The file
    that names the others comes first in ``new`` and is placed last."""
    journal = _Journal(staging)
    if old:
        _replace(staging, new, old, journal)
    else:
        _place_new(new, path)


def _place_new(new, path):
    placed = []
    try:
        for source, target in reversed(new):
            if not _rename(source, target, _NOREPLACE):
                _rename_without_replacing(source, target)
            placed.append(target)
    except OSError as error:
        for target in placed:
            _remove(target)
        if error.errno == errno.EEXIST:
            raise ArtifactError(
                f"{path!r} already exists: another export placed an artifact there first.",
                hint="Pass `overwrite = TRUE` to replace it, or choose another path.",
                path=path) from None
        raise


def _rename_without_replacing(source, target):
    if os.path.isdir(source):
        # rename() never replaces a folder that has something in it.
        if os.path.lexists(target) and not (os.path.isdir(target) and not os.listdir(target)):
            raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), target)
        os.rename(source, target)
    else:
        os.link(source, target)  # refuses an existing target
        os.remove(source)


def _replace(staging, new, old, journal):
    targets = [target for _, target in new]
    if all(os.path.lexists(t) for t in targets) and set(old) == set(targets):
        exchanged = []
        try:
            for source, target in reversed(new):
                if not _rename(source, target, _EXCHANGE):
                    break
                exchanged.append((source, target))
            else:
                return  # the old files now sit in the staging folder
        except OSError:
            pass
        # Undo a partial exchange, then move aside instead.
        for source, target in reversed(exchanged):
            _rename(source, target, _EXCHANGE)
    _move_aside_then_in(staging, new, old, journal)


def _move_aside_then_in(staging, new, old, journal):
    aside = os.path.join(staging, "previous")
    os.mkdir(aside)
    moved_aside, moved_in = [], []
    try:
        for f in old:
            backup = os.path.join(aside, os.path.basename(f))
            journal.write(step="aside", target=f, backup=backup)
            os.rename(f, backup)
            moved_aside.append((backup, f))
        for source, target in reversed(new):
            journal.write(step="in", target=target)
            os.rename(source, target)
            moved_in.append(target)
        journal.write(step="done")
    except BaseException:
        for target in moved_in:
            _remove(target)
        for backup, f in moved_aside:
            os.rename(backup, f)
        raise
