"""Reads the arrays of an ``.npz`` (a zip of ``.npy`` files) without numpy, for the
offline backend's start-up: floats as ``array.array`` (flat, row-major), strings as
tuples. The ``.npy`` header is documented with numpy (``numpy.lib.format``): the
magic ``\\x93NUMPY``, a version, the header's length, then a Python dict literal of
``descr``, ``fortran_order`` and ``shape``. Only what polex saves is read: little-endian
float32/float64 arrays (a matrix in either order) and unicode arrays."""

from __future__ import annotations

import ast
import struct
import sys
import zipfile
from array import array
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

MAGIC = b"\x93NUMPY"
FLOAT_CODES = {"<f4": "f", "<f8": "d"}


class NpzError(ValueError):
    """An archive or array this reader does not read; the message says which."""


@dataclass(frozen=True)
class Array:
    """One array: its shape and its items, flat in C order (floats in an
    ``array.array``, strings in a tuple)."""

    shape: tuple[int, ...]
    items: array[float] | tuple[str, ...]

    def floats(self) -> array[float]:
        if not isinstance(self.items, array):
            raise NpzError(f"an array of strings where floats were expected (shape {self.shape})")
        return self.items

    def strings(self) -> tuple[str, ...]:
        if isinstance(self.items, array):
            raise NpzError(f"an array of floats where strings were expected (shape {self.shape})")
        return self.items


def read_npz(path: Path) -> dict[str, Array]:
    """Every array of the archive at ``path`` by name (without ``.npy``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {
                name.removesuffix(".npy"): _read_npy(archive.read(name), name) for name in archive.namelist()
            }
    except (OSError, zipfile.BadZipFile) as exc:
        raise NpzError(str(exc)) from exc


def _read_npy(data: bytes, name: str) -> Array:
    if not data.startswith(MAGIC) or len(data) < 10:
        raise NpzError(f"{name} is not an .npy array")
    major = data[6]
    if major == 1:
        (length,), start = struct.unpack_from("<H", data, 8), 10
    elif major in (2, 3):
        (length,), start = struct.unpack_from("<I", data, 8), 12
    else:
        raise NpzError(f"{name}: .npy format version {major} is not read")
    try:
        header = ast.literal_eval(data[start : start + length].decode("latin1"))
        descr, fortran, shape = header["descr"], header["fortran_order"], tuple(header["shape"])
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise NpzError(f"{name}: unreadable .npy header ({exc})") from exc
    if fortran and len(shape) > 2:
        raise NpzError(f"{name}: Fortran-ordered arrays of {len(shape)} dimensions are not read")
    body = data[start + length :]
    count = 1
    for size in shape:
        count *= size
    if descr in FLOAT_CODES:
        floats: array[float] = array("f") if FLOAT_CODES[descr] == "f" else array("d")
        floats.frombytes(body[: count * floats.itemsize])
        if sys.byteorder != "little":
            floats.byteswap()
        if len(floats) != count:
            raise NpzError(f"{name}: {len(floats)} of {count} values")
        if fortran and len(shape) == 2:  # column-major (scikit-learn's coef_): row k is every rows-th value
            rows = shape[0]
            in_c_order: array[float] = array(floats.typecode)
            for k in range(rows):
                in_c_order.extend(floats[k::rows])
            floats = in_c_order
        return Array(shape, floats)
    if descr.startswith("<U") and not (fortran and len(shape) == 2):
        width = int(descr[2:])
        text = body[: 4 * width * count].decode("utf-32-le")
        if len(text) != width * count:
            raise NpzError(f"{name}: truncated strings")
        # numpy pads each string with NULs to the width and strips them when read
        items = map(
            text.__getitem__, map(slice, range(0, len(text), width), range(width, len(text) + 1, width))
        )
        return Array(shape, tuple(map(str.rstrip, items, repeat("\0"))))
    raise NpzError(f"{name}: dtype {descr} is not read")
