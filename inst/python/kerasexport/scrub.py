"""Keep local information out of exported artifacts.

Exporters can leave traces of the machine that made an artifact: the torch
ONNX exporter with ``verbose=True`` writes source locations (``File
"/home/me/project/model.py", line 12``) into node doc strings, and names or
metadata can hold the export's temporary folder. Before an artifact is moved
into place, every string in it that a reader could see is searched for this
machine's local folders and the user's name; ONNX strings are cleaned (doc
strings dropped, paths in names and metadata replaced), and SavedModel debug
information, which holds stack traces, is removed. What was found is returned
and recorded in the artifact, for ``artifact_info()`` to report.

This module finds local information; each format's module (``scrub``)
knows where its artifacts hold strings.
"""

import functools
import getpass
import os
import re
import site
import sys
import tempfile

REDACTED = "<local>"


def _markers(folders):
    markers = set()
    for folder in folders:
        if not folder:
            continue
        for path in {os.path.abspath(folder), os.path.realpath(folder)}:
            if path not in ("/", "") and len(path) > 4:
                markers.add(path)
    return markers


@functools.lru_cache(maxsize=None)
def _installation_markers():
    """The Python installation's and the temporary folders: fixed for the
    life of the process, and resolving them was most of a small export's
    bookkeeping."""
    folders = [tempfile.gettempdir(), sys.prefix, sys.base_prefix, *site.getsitepackages()]
    if hasattr(site, "getusersitepackages"):
        folders.append(site.getusersitepackages())
    return frozenset(_markers(folders))


def local_markers(extra_paths=()):
    """Absolute folders that identify this machine or user, longest first."""
    markers = _installation_markers() | _markers(
        [os.path.expanduser("~"), os.getcwd(), *extra_paths])
    return sorted(markers, key=len, reverse=True)


@functools.lru_cache(maxsize=None)
def _user_pattern():
    try:
        user = getpass.getuser()
    except Exception:
        return None
    if not user or len(user) < 3:
        return None
    return re.compile(r"(?<![\w-])" + re.escape(user) + r"(?![\w-])")


_SOURCE_LOCATION = re.compile(r'File "[^"]+", line \d+')


class Finder:
    def __init__(self, extra_paths=()):
        self.markers = local_markers(extra_paths)
        self.user = _user_pattern()

    def kinds(self, text, prose=False):
        """What local information ``text`` holds: 'path', 'user'."""
        if not text:
            return []
        found = []
        if any(marker in text for marker in self.markers) or _SOURCE_LOCATION.search(text):
            found.append("path")
        # A user name is only searched in prose (doc strings, metadata):
        # in tensor and node names a short word would match by accident.
        if prose and self.user is not None and self.user.search(text):
            found.append("user")
        return found

    def clean(self, text, keep=()):
        """``text`` with local information replaced; the strings in ``keep``
        (the user's own artifact path) stay as they are."""
        kept = {f"\x00kept{i}\x00": k for i, k in enumerate(keep) if k}
        for placeholder, value in kept.items():
            text = text.replace(value, placeholder)
        text = self._clean(text)
        for placeholder, value in kept.items():
            text = text.replace(placeholder, value)
        return text

    def _clean(self, text):
        for marker in self.markers:
            text = text.replace(marker, REDACTED)
        text = _SOURCE_LOCATION.sub(f'File "{REDACTED}"', text)
        if self.user is not None:
            text = self.user.sub(REDACTED, text)
        return text
