"""Save fitted models and workflow results to one file, and load them back.

A model file is a zip archive (stored, not compressed) that executes no code
when it is read: no pickle anywhere, arrays are read with
``np.load(..., allow_pickle=False)``, and classes are looked up by name in an
explicit registry of anomalykit's own types plus
:class:`sklearn.pipeline.Pipeline`; nothing named by the file is imported.

Format ``anomalykit-model`` version 1.0
---------------------------------------
Entries of the archive:

``manifest.json``
    UTF-8 (ASCII) JSON object with the keys

    - ``format``: ``"anomalykit-model"``;
    - ``format_version``: ``"MAJOR.MINOR"`` (now ``"1.0"``). A reader loads
      every minor version of its major; another major is refused with the
      versions named. Minor versions only add things an older reader of the
      same major can ignore or reject clearly (an unknown entry ``type`` or
      class is an error, never a guess);
    - ``written_by``: versions of ``anomalykit``, ``numpy``, ``scipy``,
      ``scikit-learn`` and ``python`` that wrote the file;
    - ``object``: the registry name of the saved object, e.g.
      ``"anomalykit.GaussianDetector"``;
    - ``data_fingerprint``: the ``data_fingerprint_`` of the data the object
      was fitted on (of the first step of a Pipeline, of the estimator of a
      report), or null;
    - ``root``: the object tree (below);
    - ``arrays``: for every array entry, ``{"dtype", "shape", "sha256"}``.

``manifest.json.sha256``
    ``"<sha256 of manifest.json>  manifest.json\\n"`` (``sha256sum -c`` format).

``arrays/<i>.npy``
    One NumPy ``.npy`` file per array (no object dtypes), in the layout and
    dtype it had: a float32 model stays float32.

The object tree is JSON: ``null``, booleans, strings, integers, finite floats
(written with :func:`repr`, so they round-trip bit for bit) and lists stand
for themselves; anything else is an object with a ``"type"`` key:

- ``{"type": "float", "value": "nan" | "inf" | "-inf"}``;
- ``{"type": "scalar", "dtype": "<f8", "value": ...}``: a NumPy scalar;
- ``{"type": "ndarray", "entry": "arrays/0.npy"}``; ``{"type": "str_array",
  "shape": [...], "values": [...]}`` for object arrays of strings (the
  ``feature_names_in_`` of a DataFrame);
- ``{"type": "csr_matrix" | "csr_array", "shape", "data", "indices", "indptr"}``;
- ``{"type": "tuple", "items": [...]}``, ``{"type": "dict", "keys": [...],
  "values": [...]}``, ``{"type": "dtype", "value": "<f4"}``;
- ``{"type": "generator", "bit_generator": "PCG64", "state": ...}``: a
  ``numpy.random.Generator`` given as ``random_state``;
- ``{"type": "estimator", "class", "id", "params", "attributes"}``:
  ``params`` are ``get_params(deep=False)``, ``attributes`` every other
  instance attribute (fitted ones and the private state scoring needs, such
  as K-means' centring shift or the detector's moments). Loading calls
  ``cls(**params)`` and sets the attributes;
- ``{"type": "dataclass", "class", "id", "fields"}``: a result dataclass,
  field by field, rebuilt with ``cls(**fields)``;
- ``{"type": "ref", "id": n}``: an estimator or dataclass already written
  (shared objects stay shared: ``report.validation`` is
  ``report.detector.threshold_result_`` after loading too). Arrays shared by
  several attributes share one entry.

A :class:`~anomalykit.ThresholdResult` (``threshold_result_`` after
``tune_threshold``, ``DetectionReport.validation``) is saved with its curve
computed: the lazy curve builder it holds is a function, which a file does
not carry, so ``curve`` is stored as data and the loaded result returns the
same arrays.

The checksums detect damage and edits; they are not a signature (anyone can
recompute them). Safety comes from reading data only: a file can at worst
hold wrong numbers, never run code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import io
import json
import math
import platform
import re
import zipfile
import zlib
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._atomic import atomic_open

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "load", "save"]

#: The ``format`` key of every manifest.
FORMAT_NAME = "anomalykit-model"
#: ``(major, minor)`` written by this version; files of the same major are read.
FORMAT_VERSION = (1, 0)
MANIFEST = "manifest.json"
MANIFEST_CHECKSUM = "manifest.json.sha256"
#: Fixed entry timestamps: saving the same model twice gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_MAGIC = b"PK\x03\x04"
#: Dtypes allowed for arrays, NumPy scalars and dtype values (no objects, no records).
_DTYPE_RE = re.compile(r"[<>|=](?:[biu][1248]|f[248]|c(?:8|16)|U\d+)")
_SCALAR_RE = re.compile(r"[<>|=](?:[biu][1248]|f[248])")
_BIT_GENERATORS = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}
_SPARSE = {"csr_matrix": sp.csr_matrix, "csr_array": sp.csr_array}


class ModelFileError(ValueError):
    """A model file cannot be read (damaged, truncated, foreign, from an
    incompatible version) or an object cannot be written to one."""


@functools.cache
def _registry() -> dict[str, type]:
    """The only classes a model file may name: registry name -> class.

    Built on first use (the workflow imports the package root, which imports
    this module).
    """
    from sklearn.pipeline import Pipeline

    from .._utils._stats import Moments
    from ..cluster import KMeans, KSelection, MiniBatchKMeans
    from ..detectors import CentroidOutlierDetector, GaussianDetector
    from ..metrics import ThresholdEvaluation
    from ..preprocessing import FeatureScaler
    from ..thresholds import ThresholdCurve, ThresholdResult
    from ..workflow import BootstrapInterval, ClusteringReport, DetectionReport

    return {
        "anomalykit.GaussianDetector": GaussianDetector,
        "anomalykit.CentroidOutlierDetector": CentroidOutlierDetector,
        "anomalykit.KMeans": KMeans,
        "anomalykit.MiniBatchKMeans": MiniBatchKMeans,
        "anomalykit.preprocessing.FeatureScaler": FeatureScaler,
        "sklearn.pipeline.Pipeline": Pipeline,
        "anomalykit.workflow.DetectionReport": DetectionReport,
        "anomalykit.workflow.ClusteringReport": ClusteringReport,
        "anomalykit.workflow.BootstrapInterval": BootstrapInterval,
        "anomalykit.ThresholdResult": ThresholdResult,
        "anomalykit.ThresholdCurve": ThresholdCurve,
        "anomalykit.metrics.ThresholdEvaluation": ThresholdEvaluation,
        "anomalykit.KSelection": KSelection,
        "anomalykit.detectors.Moments": Moments,  # GaussianDetector's sufficient statistics
    }


@functools.cache
def _names() -> dict[type, str]:
    return {cls: name for name, cls in _registry().items()}


def _materialise_curve(obj: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """ThresholdResult: store the (lazily built) curve as data, not its builder."""
    return {**fields, "_curve": obj.curve, "_make_curve": None}


#: Per-class adjustments of a dataclass's fields before writing.
_PREPARE = {"anomalykit.ThresholdResult": _materialise_curve}


def _one_line(message: str) -> str:
    """Errors are one line (the CLI prints them as ``error: ...``)."""
    return " ".join(message.split())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    import scipy
    import sklearn

    from .. import __version__

    return {
        "anomalykit": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------------- writing
class _Writer:
    """Turns an object into the JSON tree and the ``.npy`` entries."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}
        self.table: dict[str, dict[str, Any]] = {}
        self._array_entry: dict[int, str] = {}
        self._object_id: dict[int, int] = {}
        self._open: set[int] = set()
        self._alive: list[Any] = []  # keeps every id() above valid while writing

    def encode(self, value: Any, where: str) -> Any:
        if value is None or type(value) is bool:
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, np.generic):
            return self._scalar(value, where)
        if type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"type": "float", "value": repr(value)}
        if type(value) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            return {
                "type": "tuple",
                "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)],
            }
        if type(value) is dict:
            keys = list(value)
            return {
                "type": "dict",
                "keys": [self.encode(k, f"{where} key") for k in keys],
                "values": [self.encode(value[k], f"{where}[{k!r}]") for k in keys],
            }
        if type(value) is np.ndarray:
            return self._array(value, where)
        if isinstance(value, np.dtype):
            if not _DTYPE_RE.fullmatch(value.str):
                raise self._unsupported(value, where, f"dtype {value}")
            return {"type": "dtype", "value": value.str}
        if type(value) in (sp.csr_matrix, sp.csr_array):
            return {
                "type": type(value).__name__,
                "shape": list(value.shape),
                **{
                    k: self._array(getattr(value, k), f"{where}.{k}")
                    for k in ("data", "indices", "indptr")
                },
            }
        return self._object(value, where)

    def _scalar(self, value: np.generic, where: str) -> dict[str, Any]:
        if not _SCALAR_RE.fullmatch(value.dtype.str):
            raise self._unsupported(value, where, f"a NumPy {value.dtype} scalar")
        item = value.item()
        if isinstance(item, float) and not math.isfinite(item):
            item = repr(item)
        return {"type": "scalar", "dtype": value.dtype.str, "value": item}

    def _array(self, value: np.ndarray, where: str) -> dict[str, Any]:
        if value.dtype.hasobject:
            flat = value.ravel().tolist()
            if not all(isinstance(v, str) for v in flat):
                raise self._unsupported(value, where, "an object array that is not all strings")
            return {
                "type": "str_array",
                "shape": list(value.shape),
                "values": [str(v) for v in flat],
            }
        entry = self._array_entry.get(id(value))
        if entry is None:
            if not _DTYPE_RE.fullmatch(value.dtype.str):
                raise self._unsupported(value, where, f"an array of dtype {value.dtype}")
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            entry = f"arrays/{len(self.entries)}.npy"
            self.entries[entry] = data = buffer.getvalue()
            self.table[entry] = {
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "sha256": _sha256(data),
            }
            self._array_entry[id(value)] = entry
            self._alive.append(value)
        return {"type": "ndarray", "entry": entry}

    def _object(self, value: Any, where: str) -> dict[str, Any]:
        key = id(value)
        if key in self._object_id:
            if key in self._open:
                raise ModelFileError(
                    f"Cannot save {where}: it contains itself (a reference cycle), which a model "
                    "file cannot hold."
                )
            return {"type": "ref", "id": self._object_id[key]}
        if isinstance(value, np.random.Generator):
            bit_generator = type(value.bit_generator).__name__
            if bit_generator not in _BIT_GENERATORS:
                raise self._unsupported(value, where, f"a Generator on {bit_generator}")
            node: dict[str, Any] = {"type": "generator", "id": self._remember(value)}
            node["bit_generator"] = bit_generator
            node["state"] = self.encode(value.bit_generator.state, f"{where}.state")
            return node
        name = _names().get(type(value))
        if name is None:
            raise self._unsupported(value, where, type(value).__qualname__)
        oid = self._remember(value)
        self._open.add(key)
        if dataclasses.is_dataclass(value):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            fields = _PREPARE.get(name, lambda _, f: f)(value, fields)
            node = {"type": "dataclass", "class": name, "id": oid}
            node["fields"] = {k: self.encode(v, f"{where}.{k}") for k, v in fields.items()}
        else:
            params = value.get_params(deep=False)
            node = {"type": "estimator", "class": name, "id": oid}
            node["params"] = {k: self.encode(v, f"{where}.{k}") for k, v in params.items()}
            node["attributes"] = {
                k: self.encode(v, f"{where}.{k}") for k, v in vars(value).items() if k not in params
            }
        self._open.discard(key)
        return node

    def _remember(self, value: Any) -> int:
        oid = len(self._object_id)
        self._object_id[id(value)] = oid
        self._alive.append(value)
        return oid

    @staticmethod
    def _unsupported(value: Any, where: str, what: str) -> ModelFileError:
        return ModelFileError(
            _one_line(
                f"Cannot save {where}: {what} ({type(value).__module__}."
                f"{type(value).__qualname__}) is not supported. A model file holds anomalykit "
                "estimators, Pipelines of them, workflow reports, arrays of numbers or strings "
                "and plain Python values; see docs/model-format.md."
            )
        )


def _check_fitted(obj: Any) -> None:
    from sklearn.pipeline import Pipeline

    if isinstance(obj, Pipeline):
        for _, step in obj.steps:
            if step is not None and not isinstance(step, str):
                _check_fitted(step)
    elif not dataclasses.is_dataclass(obj):
        try:
            check_is_fitted(obj)
        except NotFittedError:
            raise NotFittedError(
                f"Cannot save an unfitted {type(obj).__name__}: call fit first. A model file "
                "holds a fitted model, ready to score new rows."
            ) from None


def _training_fingerprint(obj: Any) -> dict[str, Any] | None:
    """Fingerprint of the data the object was fitted on (first step, or the report's model)."""
    from sklearn.pipeline import Pipeline

    if isinstance(obj, Pipeline):
        steps = [s for _, s in obj.steps if s is not None and not isinstance(s, str)]
        return _training_fingerprint(steps[0]) if steps else None
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if hasattr(value, "get_params"):
                return _training_fingerprint(value)
        return None
    fp = getattr(obj, "data_fingerprint_", None)
    return fp if isinstance(fp, dict) else None


def save(obj: Any, path: str | PathLike[str]) -> None:
    """Write a fitted model or a workflow report to one file.

    The file is a zip archive of a JSON manifest and ``.npy`` arrays (see
    ``docs/model-format.md``): parameters, fitted arrays and the private state
    scoring needs, feature names, the threshold ``offset_`` (log-epsilon),
    the versions of anomalykit, NumPy, SciPy, scikit-learn and Python, and a
    fingerprint of the training data. :func:`load` gives back an object whose
    scores, labels and transforms are bit-identical. The file appears only
    when it is complete: it is written to a temporary file in the same folder
    and renamed over ``path``.

    Parameters
    ----------
    obj : estimator or report
        A fitted :class:`~anomalykit.GaussianDetector`,
        :class:`~anomalykit.KMeans`, :class:`~anomalykit.MiniBatchKMeans`,
        :class:`~anomalykit.CentroidOutlierDetector`,
        :class:`~anomalykit.preprocessing.FeatureScaler`, a
        :class:`sklearn.pipeline.Pipeline` of those, or a
        :class:`~anomalykit.workflow.DetectionReport` /
        :class:`~anomalykit.workflow.ClusteringReport`.
    path : str or path-like
        The file to write (replaced if it exists). Any name works; ``.akm``
        is the convention.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The estimator (or a Pipeline step) is not fitted.
    ModelFileError
        Something in ``obj`` cannot be saved (another library's estimator, an
        object array, a callable), named with its place in ``obj``. Nothing
        is written then.

    See Also
    --------
    load : read the file back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from anomalykit import GaussianDetector, load, save
    >>> X = np.array([[1.0, 2.0], [1.2, 1.9], [0.8, 2.1], [1.1, 2.2], [0.9, 1.8]])
    >>> det = GaussianDetector(epsilon=1e-3).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "detector.akm")
    ...     save(det, path)
    ...     same = load(path)
    >>> same.predict([[1.0, 2.0], [3.0, 0.0]])
    array([ 1, -1])
    >>> bool(np.array_equal(same.score_samples(X), det.score_samples(X)))
    True
    """
    if type(obj) not in _names():
        raise ModelFileError(
            f"save writes anomalykit estimators, Pipelines of them and workflow reports; got "
            f"{type(obj).__module__}.{type(obj).__qualname__}. Save arrays with numpy.save."
        )
    _check_fitted(obj)
    writer = _Writer()
    root = writer.encode(obj, type(obj).__name__)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}",
        "written_by": _versions(),
        "object": _names()[type(obj)],
        "data_fingerprint": _training_fingerprint(obj),
        "root": root,
        "arrays": writer.table,
    }
    text = json.dumps(manifest, indent=1, allow_nan=False, ensure_ascii=True) + "\n"
    raw = text.encode("ascii")
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        _write_entry(zf, MANIFEST, raw)
        _write_entry(zf, MANIFEST_CHECKSUM, f"{_sha256(raw)}  {MANIFEST}\n".encode("ascii"))
        for entry, data in writer.entries.items():
            _write_entry(zf, entry, data)


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


# ---------------------------------------------------------------------- reading
def load(path: str | PathLike[str]) -> Any:
    """Read a model or report written by :func:`save`.

    Reading runs no code from the file: arrays are read without pickle and
    classes are looked up in a fixed registry of anomalykit's own types (and
    :class:`sklearn.pipeline.Pipeline`); a name outside it is an error,
    never an import. Every array and the manifest are checked against the
    sha256 recorded when the file was written.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    object
        The saved estimator, Pipeline or report, fitted as it was saved.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        One line naming the problem and what to do: an empty, truncated or
        damaged file, a checksum that does not match (the file changed after
        it was written), a file that is not an anomalykit model (not a zip,
        no manifest, a manifest of another format), a class or entry this
        version does not know, or another major format version (the message
        names the anomalykit and format versions on both sides).

    See Also
    --------
    save : write the file.

    Notes
    -----
    Files of every minor version of this major format are read, whichever
    anomalykit, NumPy or scikit-learn wrote them; the manifest's
    ``written_by`` records those versions.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from anomalykit import KMeans, load, save
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0], [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "kmeans.akm")
    ...     save(km, path)
    ...     same = load(path)
    >>> bool(np.array_equal(same.predict(X), km.predict(X)))
    True
    >>> same.data_fingerprint_ == km.data_fingerprint_
    True
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4)
        if not head:
            raise ModelFileError(
                f"{path} is empty (0 bytes), not a model file: the save or copy that made it "
                "was probably interrupted. Copy it again from its source or save the model again."
            )
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            if head == _ZIP_MAGIC:
                raise ModelFileError(
                    f"{path} is truncated or damaged: it starts like a model file (a zip "
                    "archive) but its directory cannot be read. Copy it again from its source "
                    "or save the model again."
                ) from None
            raise ModelFileError(
                f"{path} is not an anomalykit model file (not a zip archive; it starts with "
                f"{head!r}). Load files written by anomalykit.save; read data tables with "
                "anomalykit.io.load_table."
            ) from None
        with zf:
            return _Reader(zf, path).read()


#: A model manifest is parameters and small metadata: a few MiB at most.
_MAX_MANIFEST_BYTES = 64 * 2**20


def _check_npy_size(data: bytes) -> None:
    """The .npy header's shape must match the bytes that follow it, checked
    before numpy allocates the array (a crafted header could ask for any size)."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays are not allowed")
    expected = math.prod(shape) * dtype.itemsize
    if expected != len(data) - stream.tell():
        raise ValueError(
            f"its header claims {expected} bytes of data but {len(data) - stream.tell()} follow"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _Reader:
    """Checks a model archive and rebuilds the object tree from it."""

    def __init__(self, zf: zipfile.ZipFile, path: Path) -> None:
        self.zf = zf
        self.path = path
        self.arrays: dict[str, np.ndarray] = {}
        self.objects: dict[int, Any] = {}
        self.written_by = "an unknown version"

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(_one_line(f"{self.path}: {problem}"))

    def read(self) -> Any:
        self._check_entries()
        if MANIFEST not in self.zf.namelist():
            raise self.fail(
                f"a zip archive but not an anomalykit model: it has no {MANIFEST}. Load files "
                "written by anomalykit.save."
            )
        raw = self._entry(MANIFEST)
        try:
            manifest = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise self.fail(
                f"{MANIFEST} is not valid JSON: the file is damaged or was not written by "
                "anomalykit.save. Copy it again from its source or save the model again."
            ) from None
        found = manifest.get("format") if isinstance(manifest, dict) else None
        if found != FORMAT_NAME:
            raise self.fail(
                f"{MANIFEST} is of another format ({found!r}, expected {FORMAT_NAME!r}): this "
                "file was not written by anomalykit.save."
            )
        self._check_version(manifest)
        self._check_manifest_checksum(raw)
        self._read_arrays(manifest.get("arrays"))
        try:
            return self.decode(manifest["root"], "root")
        except ModelFileError:
            raise
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
            RecursionError,
            OverflowError,
        ) as exc:
            raise self.fail(
                f"the manifest is malformed ({type(exc).__name__}: {exc}); it does not follow "
                f"format {FORMAT_VERSION[0]}.x. Save the model again."
            ) from None

    # -------------------------------------------------------------- checks
    def _check_entries(self) -> None:
        """Entries are stored, not compressed, and none claims more bytes than the
        file holds: a small crafted file cannot make the reader inflate gigabytes."""
        try:
            size = self.path.stat().st_size
        except OSError:
            size = None
        total = 0
        for info in self.zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise self.fail(
                    f"its entry {info.filename} is compressed; anomalykit.save stores entries "
                    "uncompressed, so this file was not written by it (or was repacked). Save "
                    "the model again."
                )
            total += info.file_size
            if info.filename == MANIFEST and info.file_size > _MAX_MANIFEST_BYTES:
                raise self.fail(
                    f"its {MANIFEST} claims {info.file_size} bytes, more than a model manifest "
                    "holds: the file is damaged or crafted. Save the model again."
                )
        if size is not None and total > size:
            raise self.fail(
                f"its entries claim {total} bytes but the file has {size}: the file is damaged "
                "or crafted. Copy it again from its source or save the model again."
            )

    def _entry(self, name: str) -> bytes:
        try:
            return self.zf.read(name)
        except KeyError:
            raise self.fail(
                f"damaged: its entry {name} is missing. Copy it again from its source or save "
                "the model again."
            ) from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise self.fail(
                f"damaged: its entry {name} cannot be read ({exc}). Copy it again from its "
                "source or save the model again."
            ) from None

    def _check_version(self, manifest: dict[str, Any]) -> None:
        from .. import __version__

        written_by = manifest.get("written_by")
        if isinstance(written_by, dict) and isinstance(written_by.get("anomalykit"), str):
            self.written_by = written_by["anomalykit"]
        version = manifest.get("format_version")
        match = re.fullmatch(r"(\d+)\.(\d+)", version) if isinstance(version, str) else None
        if match is None:
            raise self.fail(
                f"format_version {version!r} is not MAJOR.MINOR: the file is damaged or was not "
                "written by anomalykit.save."
            )
        major = int(match[1])
        if major != FORMAT_VERSION[0]:
            if major > FORMAT_VERSION[0]:
                advice = "upgrade anomalykit (pip install -U anomalykit) to load it"
            else:
                advice = "load it with the anomalykit that wrote it and refit, or save it again"
            raise self.fail(
                f"written by anomalykit {self.written_by} with format {version}; this anomalykit "
                f"{__version__} reads format {FORMAT_VERSION[0]}.x: {advice}."
            )

    def _check_manifest_checksum(self, raw: bytes) -> None:
        if MANIFEST_CHECKSUM not in self.zf.namelist():
            raise self.fail(
                f"damaged: {MANIFEST_CHECKSUM} is missing, so the manifest cannot be verified. "
                "Copy it again from its source or save the model again."
            )
        recorded = self._entry(MANIFEST_CHECKSUM).decode("ascii", "replace").split()
        if not recorded or recorded[0] != _sha256(raw):
            raise self.fail(
                f"modified or damaged after it was written: {MANIFEST} does not match its "
                "recorded sha256. Copy it again from its source or save the model again."
            )

    def _read_arrays(self, table: Any) -> None:
        if not isinstance(table, dict):
            raise self.fail("the manifest has no 'arrays' table. Save the model again.")
        for name, info in table.items():
            data = self._entry(name)
            if not isinstance(info, dict) or info.get("sha256") != _sha256(data):
                raise self.fail(
                    f"modified or damaged after it was written: array {name} does not match "
                    "its recorded sha256. Copy it again from its source or save the model again."
                )
            try:
                _check_npy_size(data)
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError, OverflowError) as exc:
                raise self.fail(f"array {name} is not a plain .npy array ({exc}).") from None
            if (
                type(array) is not np.ndarray
                or not _DTYPE_RE.fullmatch(array.dtype.str)
                or array.dtype.str != info.get("dtype")
                or list(array.shape) != info.get("shape")
            ):
                raise self.fail(
                    f"array {name} does not match its manifest entry (dtype or shape): the "
                    "file is damaged. Save the model again."
                )
            self.arrays[name] = array

    # ------------------------------------------------------------- decoding
    def decode(self, node: Any, where: str) -> Any:
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            raise self.fail(f"unexpected value at {where}; the manifest is malformed.")
        kind = node.get("type")
        if kind == "float":
            value = node["value"]
            if value not in ("nan", "inf", "-inf"):
                raise ValueError(f"float {value!r} at {where}")
            return float(value)
        if kind == "scalar":
            return np.array(
                self._number(node["value"]), dtype=self._dtype(node["dtype"], _SCALAR_RE)
            )[()]
        if kind == "ndarray":
            entry = node["entry"]
            if entry not in self.arrays:
                raise self.fail(f"{where} refers to array {entry!r}, which the file does not list.")
            return self.arrays[entry]
        if kind == "str_array":
            values = node["values"]
            if not all(isinstance(v, str) for v in values):
                raise ValueError(f"str_array at {where} holds non-strings")
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out.reshape([int(n) for n in node["shape"]])
        if kind in _SPARSE:
            parts = [self.decode(node[k], f"{where}.{k}") for k in ("data", "indices", "indptr")]
            if not all(isinstance(p, np.ndarray) for p in parts) or not all(
                p.dtype.kind == "i" for p in parts[1:]
            ):
                raise ValueError(f"sparse matrix at {where} needs array data and integer indices")
            matrix = _SPARSE[kind](tuple(parts), shape=tuple(int(n) for n in node["shape"]))
            matrix.check_format(full_check=True)  # indices inside the shape, or ValueError
            return matrix
        if kind == "tuple":
            return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(node["items"]))
        if kind == "dict":
            keys = [self.decode(k, f"{where} key") for k in node["keys"]]
            values = node["values"]
            if len(keys) != len(values):
                raise ValueError(f"dict at {where} has {len(keys)} keys and {len(values)} values")
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in zip(keys, values, strict=True)}
        if kind == "dtype":
            return self._dtype(node["value"], _DTYPE_RE)
        if kind == "ref":
            oid = node["id"]
            if oid not in self.objects:
                raise self.fail(f"{where} refers to object {oid!r} before it is defined.")
            return self.objects[oid]
        if kind == "generator":
            bit_generator = _BIT_GENERATORS.get(node["bit_generator"])
            if bit_generator is None:
                raise self.fail(f"unknown bit generator {node['bit_generator']!r} at {where}.")
            generator = np.random.Generator(bit_generator())
            generator.bit_generator.state = self.decode(node["state"], f"{where}.state")
            return self._define(node, generator)
        if kind in ("estimator", "dataclass"):
            return self._object(node, kind, where)
        raise self.fail(
            f"unknown entry type {kind!r} at {where}: the file was written by anomalykit "
            f"{self.written_by}, which knows more types than this one; upgrade anomalykit."
        )

    @staticmethod
    def _number(value: Any) -> bool | int | float:
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            return float(value)
        if not isinstance(value, (bool, int, float)):
            raise ValueError(f"scalar value {value!r}")
        return value

    def _dtype(self, text: Any, allowed: re.Pattern[str]) -> np.dtype:
        if not isinstance(text, str) or not allowed.fullmatch(text):
            raise self.fail(f"dtype {text!r} is not allowed in a model file.")
        return np.dtype(text)

    def _define(self, node: dict[str, Any], obj: Any) -> Any:
        oid = node["id"]
        if not isinstance(oid, int) or oid in self.objects:
            raise ValueError(f"object id {oid!r} is invalid or defined twice")
        self.objects[oid] = obj
        return obj

    def _object(self, node: dict[str, Any], kind: str, where: str) -> Any:
        name = node.get("class")
        cls = _registry().get(name) if isinstance(name, str) else None
        if cls is None:
            raise self.fail(
                f"unknown class {name!r} at {where}. This anomalykit loads only its own "
                "estimators, workflow reports and sklearn.pipeline.Pipeline, and never imports "
                f"a name from a file. The file was written by anomalykit {self.written_by}: if "
                "that is newer, upgrade anomalykit to load it."
            )
        if dataclasses.is_dataclass(cls) != (kind == "dataclass"):
            raise self.fail(f"{name} at {where} is stored as {kind!r}; the manifest is malformed.")
        if kind == "dataclass":
            return self._dataclass(cls, name, node, where)
        params = {k: self.decode(v, f"{where}.{k}") for k, v in node["params"].items()}
        try:
            obj = cls(**params)
        except TypeError:
            accepted = sorted(inspect.signature(cls).parameters)
            raise self.fail(
                f"{name} at {where} has parameters {sorted(params)}, this version accepts "
                f"{accepted}: the file was written by anomalykit {self.written_by} with other "
                "library versions (see its written_by). Load it with those versions."
            ) from None
        self._define(node, obj)
        state = vars(obj)
        for attr, value in node["attributes"].items():
            if not (isinstance(attr, str) and attr.isidentifier() and not attr.startswith("__")):
                raise self.fail(f"attribute name {attr!r} of {name} is not allowed.")
            if callable(getattr(cls, attr, None)) or isinstance(getattr(cls, attr, None), property):
                raise self.fail(
                    f"attribute {attr!r} of {name} would replace a method of the class: the "
                    "file is damaged or crafted. Save the model again."
                )
            state[attr] = self.decode(value, f"{where}.{attr}")
        return obj

    def _dataclass(self, cls: type, name: str, node: dict[str, Any], where: str) -> Any:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = node["fields"]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise self.fail(
                f"its {name} has field(s) {unknown} that this anomalykit does not know "
                f"(written by anomalykit {self.written_by}): upgrade anomalykit to load it."
            )
        decoded = {k: self.decode(v, f"{where}.{k}") for k, v in values.items()}
        try:
            obj = cls(**{k: v for k, v in decoded.items() if fields[k].init})
        except TypeError:
            missing = sorted(
                k
                for k, f in fields.items()
                if f.init
                and k not in decoded
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            )
            raise self.fail(
                f"its {name} lacks the field(s) {missing} that this anomalykit needs (written "
                f"by anomalykit {self.written_by}); save it again with this version."
            ) from None
        for k, v in decoded.items():
            if not fields[k].init:
                object.__setattr__(obj, k, v)
        return self._define(node, obj)
