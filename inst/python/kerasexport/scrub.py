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

    def clean(self, text):
        for marker in self.markers:
            text = text.replace(marker, REDACTED)
        text = _SOURCE_LOCATION.sub(f'File "{REDACTED}"', text)
        if self.user is not None:
            text = self.user.sub(REDACTED, text)
        return text


def scrub_onnx(graph_model, finder):
    """Clean an in-memory ONNX ModelProto; returns the findings."""
    import onnx

    findings = []

    def note(location, kinds):
        for kind in kinds:
            findings.append({"location": location, "kind": kind})

    def visit_graph(graph, where):
        if graph.doc_string:
            note(f"{where}.doc_string", finder.kinds(graph.doc_string, prose=True) or [])
            graph.doc_string = ""
        for i, node in enumerate(graph.node):
            label = f"{where}.node[{i}]"
            if node.doc_string:
                note(f"{label}.doc_string", finder.kinds(node.doc_string, prose=True))
                node.doc_string = ""  # only ever debugging information
            kinds = finder.kinds(node.name)
            if kinds:
                note(f"{label}.name", kinds)
                node.name = finder.clean(node.name)
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.STRING:
                    text = attribute.s.decode("utf-8", "replace")
                    kinds = finder.kinds(text, prose=True)
                    if kinds:
                        note(f"{label}.attribute[{attribute.name}]", kinds)
                        attribute.s = finder.clean(text).encode("utf-8")
                elif attribute.type == onnx.AttributeProto.GRAPH:
                    visit_graph(attribute.g, f"{label}.{attribute.name}")
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    for j, subgraph in enumerate(attribute.graphs):
                        visit_graph(subgraph, f"{label}.{attribute.name}[{j}]")

    if graph_model.doc_string:
        note("model.doc_string", finder.kinds(graph_model.doc_string, prose=True))
        graph_model.doc_string = ""
    visit_graph(graph_model.graph, "graph")
    for function in graph_model.functions:
        visit_graph(function, f"function[{function.name}]")
    for prop in graph_model.metadata_props:
        kinds = finder.kinds(prop.value, prose=True)
        if kinds:
            note(f"metadata_props[{prop.key}]", kinds)
            prop.value = finder.clean(prop.value)
    # Doc strings without local information are dropped too, but only local
    # information is worth a finding.
    return [f for f in findings if f["kind"]]


def scrub_saved_model(path, finder):
    findings = []
    debug = os.path.join(path, "debug")
    if os.path.isdir(debug):
        import shutil

        findings.append({"location": "debug/", "kind": "stack traces"})
        shutil.rmtree(debug)
    # What remains is binary protocol buffers: report, never rewrite.
    for root, _, names in os.walk(path):
        for name in names:
            if name == "kerasexport.json" or name.startswith("variables.data"):
                continue
            file_path = os.path.join(root, name)
            with open(file_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
            for kind in finder.kinds(text):
                findings.append({"location": os.path.relpath(file_path, path), "kind": kind,
                                 "removed": False})
    return findings


def scrub(artifact, format, extra_paths=()):
    """Scrub an artifact: an ONNX ModelProto, or a SavedModel's folder."""
    finder = Finder(extra_paths)
    if format == "onnx":
        return scrub_onnx(artifact, finder)
    if format == "tf_saved_model":
        return scrub_saved_model(artifact, finder)
    return []
