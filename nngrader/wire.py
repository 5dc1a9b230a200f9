"""The wire protocol between the grader and the sandbox's child process: plain data only.

Each message is an 8-byte little-endian length followed by an ``.npz`` archive (no pickles)
holding ``__meta__`` (a JSON string) and the arrays it refers to. :func:`pack` describes a value
as a JSON structure plus numeric arrays; :func:`unpack` rebuilds it. The reader uses
``numpy.load(..., allow_pickle=False)``, accepts numbers and booleans only and never unpickles.
The NumPy and JSON functions are taken at import, before any student code runs in the child, so
patching them in a cell cannot break the channel.

The messages: the grader sends ``exec`` (run a cell), ``call`` (call a function) and ``bye``; the
child answers each with one reply. While a call runs, the child may also send
``{"op": "callback", "value": ...}`` (a request, a packed value), which the grader answers with a
message of the same kind before it waits on for the call's reply
(:meth:`nngrader.sandbox.Sandbox.request`; a proxy layer's backward pass,
:mod:`nngrader.remote_layers`).
"""
from __future__ import annotations

import io
import json
import struct

import numpy as np

__all__ = ["PackError", "pack", "unpack", "encode", "decode", "HEADER", "MAX_MESSAGE", "NUM_KINDS", "MAX_DEPTH"]

_np_array, _np_asarray, _savez, _np_load = np.array, np.asarray, np.savez, np.load
_json_dumps, _json_loads = json.dumps, json.loads

HEADER = struct.Struct("<Q")
MAX_MESSAGE = 256 * 1024 * 1024
NUM_KINDS = "biuf"  # bool, signed, unsigned, float: nothing else crosses the boundary
MAX_DEPTH = 16
_MAX_STR = 20_000

# --------------------------------------------------------------------------------------------
# values <-> (JSON structure, arrays)
# --------------------------------------------------------------------------------------------
class PackError(TypeError):
    """A value that cannot be sent as plain data."""


def pack(obj, arrays: dict | None = None, _depth: int = 0):
    """Describe ``obj`` as a JSON-able structure plus a dict of numeric arrays.

    Supported: ndarrays of bool/int/float, Python and NumPy scalars, str, None,
    :class:`nngrader.specs.RNG`, and lists/tuples/str-keyed dicts of these. Anything else
    (objects, functions, object arrays, complex numbers) raises :class:`PackError`.
    Returns ``(structure, arrays)``.
    """
    from .specs import RNG

    if arrays is None:
        arrays = {}
    if _depth > MAX_DEPTH:
        raise PackError("the value is nested too deeply")

    def put(a: np.ndarray) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = a
        return key

    if obj is None:
        return {"t": "none"}, arrays
    if isinstance(obj, RNG):
        return {"t": "rng", "seed": int(obj.seed)}, arrays
    if isinstance(obj, (bool, np.bool_)):
        return {"t": "num", "py": "bool", "k": put(_np_asarray(bool(obj)))}, arrays
    if isinstance(obj, (int, np.integer)):
        try:
            a = _np_asarray(int(obj), dtype=np.int64)
        except OverflowError:
            raise PackError(f"the integer {int(obj)} does not fit in 64 bits") from None
        return {"t": "num", "py": "int", "k": put(a)}, arrays
    if isinstance(obj, (float, np.floating)):
        return {"t": "num", "py": "float", "k": put(_np_asarray(float(obj), dtype=np.float64))}, arrays
    if isinstance(obj, str):
        return {"t": "str", "v": str(obj)[:_MAX_STR]}, arrays
    if isinstance(obj, np.ndarray):
        a = _np_array(obj, copy=True, subok=False)
        if a.dtype.kind not in NUM_KINDS:
            raise PackError(f"an array of dtype {a.dtype} (only bool, int and float arrays are graded)")
        return {"t": "arr", "k": put(a)}, arrays
    if isinstance(obj, (list, tuple)):
        items = [pack(v, arrays, _depth + 1)[0] for v in list(obj)]
        return {"t": "tuple" if isinstance(obj, tuple) else "list", "items": items}, arrays
    if isinstance(obj, dict):
        items = []
        for k, v in list(obj.items()):
            if not isinstance(k, str):
                raise PackError(f"a dict with a {type(k).__name__} key (keys must be str)")
            items.append([str(k), pack(v, arrays, _depth + 1)[0]])
        return {"t": "dict", "items": items}, arrays
    raise PackError(f"an object of type {type(obj).__name__}")


def unpack(struct_, arrays, *, allow_rng: bool = False, _depth: int = 0):
    """Rebuild a value from :func:`pack`'s output, validating everything (the input may be forged).

    Arrays come back as base-class ndarrays of bool/int/float dtype, numbers as Python
    bool/int/float, :class:`RNG` as a fresh Generator (only where ``allow_rng``).
    Raises ValueError on anything malformed.
    """
    if _depth > MAX_DEPTH or not isinstance(struct_, dict):
        raise ValueError("malformed value structure")
    t = struct_.get("t")
    if t == "none":
        return None
    if t == "str":
        v = struct_.get("v")
        if not isinstance(v, str):
            raise ValueError("malformed string")
        return v
    if t == "rng":
        if not allow_rng:
            raise ValueError("unexpected random generator in a result")
        return np.random.default_rng(int(struct_["seed"]))
    if t in ("num", "arr"):
        key = struct_.get("k")
        if not isinstance(key, str) or key not in arrays:
            raise ValueError("reference to a missing array")
        a = _np_asarray(arrays[key])
        if type(a) is not np.ndarray or a.dtype.kind not in NUM_KINDS:
            raise ValueError(f"unsupported array dtype {a.dtype}")
        if t == "arr":
            return a
        if a.shape != ():
            raise ValueError("malformed number")
        py = struct_.get("py")
        conv = {"bool": bool, "int": int, "float": float}.get(py)
        if conv is None:
            raise ValueError("malformed number type")
        return conv(a[()])
    if t in ("list", "tuple"):
        items = struct_.get("items")
        if not isinstance(items, list):
            raise ValueError("malformed sequence")
        vals = [unpack(s, arrays, allow_rng=allow_rng, _depth=_depth + 1) for s in items]
        return tuple(vals) if t == "tuple" else vals
    if t == "dict":
        items = struct_.get("items")
        if not isinstance(items, list):
            raise ValueError("malformed dict")
        out = {}
        for kv in items:
            if not (isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)):
                raise ValueError("malformed dict item")
            out[kv[0]] = unpack(kv[1], arrays, allow_rng=allow_rng, _depth=_depth + 1)
        return out
    raise ValueError(f"unknown value type {t!r}")


def encode(meta: dict, arrays: dict | None = None) -> bytes:
    buf = io.BytesIO()
    _savez(buf, __meta__=_np_array(_json_dumps(meta)), **(arrays or {}))
    data = buf.getvalue()
    return HEADER.pack(len(data)) + data


def decode(data: bytes) -> tuple[dict, dict]:
    with _np_load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta_arr = arrays.pop("__meta__", None)
    if meta_arr is None or meta_arr.dtype.kind != "U" or meta_arr.shape != ():
        raise ValueError("message without metadata")
    meta = _json_loads(str(meta_arr[()]))
    if not isinstance(meta, dict):
        raise ValueError("malformed metadata")
    return meta, arrays


