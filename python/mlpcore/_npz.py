"""The file side of mlpcore.save/load: atomic writing and validated reading of an .npz
archive of plain arrays with a JSON "config" text. What the arrays and the config mean is
_record.py's business; io.py joins the two.

Writing is atomic: a temporary file in the target's folder is written, flushed and fsynced,
then renamed over the target (and the folder fsynced), so a crash or a kill at any moment
leaves either the previous file or the new one, never a damaged one (a process killed
mid-save may leave its temporary file, named ".<name>.*.tmp", behind).

Reading parses the whole archive in memory and refuses anything that is not a well-formed
zip of .npy members of plain dtypes whose headers match their sizes (checked before any
allocation), with a JSON config of a format this version reads: ModelFileError (a
ValueError) with the reason. Errors of the file system stay OSError. Nothing is unpickled.
"""

import io as _io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from . import _memory

FORMAT = "mlpcore-sequential-1"
QUANTIZED_FORMAT = "mlpcore-quantized-1"  # an int8 model (quantization.py)
_FORMAT_RE = re.compile(r"mlpcore-sequential-(\d+)\Z")
_SUFFIX = ".npz"


class ModelFileError(ValueError):
    """A file given to mlpcore.load() is not a readable model: damaged, truncated, crafted,
    not an mlpcore model, or written in a newer format. The message gives the reason."""


# ---- paths and atomic writing -------------------------------------------------------------
def model_path(path):
    """path as a str ending in ".npz" (appended when missing, as np.savez does)."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"path must be a str or os.PathLike (or a file object), got {type(path).__name__}"
        ) from None
    return path if path.endswith(_SUFFIX) else path + _SUFFIX


def _new_file_mode():
    """The permission bits open() would give a new file (0o666 minus the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory):
    """Makes a rename in directory durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path, write_fn):
    """Calls write_fn(file) on a temporary file next to path, makes it durable and renames it
    over path; on any failure (exception, Ctrl-C) the temporary file is removed and path is
    untouched."""
    if os.path.islink(path):
        path = os.path.realpath(path)  # replace the file the link points to, not the link
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        # the rename would replace it regardless of its mode: honour a read-only file
        raise PermissionError(13, "the file is read-only; not replacing it", path)
    # the temporary name stays short: names near the 255-byte limit must still be savable
    prefix = os.path.basename(path)
    if len(os.fsencode(prefix)) > 100:
        prefix = os.fsdecode(os.fsencode(prefix)[:100]).rstrip("\ufffd")
    fd, tmp = tempfile.mkstemp(prefix=f".{prefix}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        try:  # mkstemp creates the file 0o600: keep the target's mode, or the default one
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = _new_file_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


# ---- reading and validating a file ---------------------------------------------------------
# The config member is read before anything else; this bounds what its header may announce
# (a model of 200,000 layers has a config of about 30 MB as the .npy's UTF-32 text).
MAX_CONFIG_BYTES = 256 << 20


def _read_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("it holds Python objects (pickled data), which are never loaded")
    return shape, fortran, dtype


def _read_member(zf, info, expected=None, max_bytes=None):
    """One .npy member of the archive as an array. Its header is checked before any of its
    data is read: no object (pickled) arrays, a shape that matches the member's declared size,
    and, when given, the expected (shape, dtype) or at most max_bytes of data. Then exactly
    that many bytes are decompressed (a member announcing more is never inflated further)."""
    with zf.open(info) as f:
        shape, fortran, dtype = _read_header(f)
        if expected is not None and (tuple(shape), dtype) != (
            tuple(expected[0]),
            np.dtype(expected[1]),
        ):
            raise ValueError(
                f"it holds {dtype}{tuple(shape)} but the file's config implies "
                f"{np.dtype(expected[1])}{tuple(expected[0])}"
            )
        count = 1
        for n in shape:
            count *= n
        n_bytes = count * dtype.itemsize
        if max_bytes is not None and n_bytes > max_bytes:
            raise ValueError(
                f"its header announces {n_bytes} bytes, more than the {max_bytes} allowed"
            )
        if info.file_size - f.tell() != n_bytes:
            raise ValueError(
                f"its header announces {dtype}{shape} ({n_bytes} "
                f"bytes) but it holds {info.file_size - f.tell()} bytes"
            )
        arr = np.empty(count, dtype=dtype)
        view = memoryview(arr.view(np.uint8))
        got = 0
        while got < n_bytes:  # in chunks: no second copy of a large member
            chunk = f.read(min(n_bytes - got, 1 << 20))
            if not chunk:
                raise ValueError("it is truncated")
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
    order = "F" if fortran else "C"
    if fortran and len(shape) > 1:
        return np.ascontiguousarray(arr.reshape(shape, order="F"))
    return arr.reshape(shape, order=order)


def _parse_config(path, text):
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path!r}: its config is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("format"), str):
        raise ModelFileError(f"{path!r} is not an mlpcore model file (no format in its config)")
    newer = _FORMAT_RE.match(config["format"])
    if newer and int(newer.group(1)) > int(_FORMAT_RE.match(FORMAT).group(1)):
        raise ModelFileError(
            f"{path!r} was written in format {config['format']!r} by a newer "
            f"mlpcore; this version reads {FORMAT!r}: upgrade mlpcore"
        )
    if config["format"] not in (FORMAT, QUANTIZED_FORMAT):
        raise ModelFileError(
            f"{path!r} is not an mlpcore model file (format "
            f"{config['format']!r}, expected {FORMAT!r})"
        )
    return config


def read_archive(path, expect=None):
    """The file's (config dict, {name: array}). OSError when the file cannot be read;
    ModelFileError when its content is not a well-formed archive of plain arrays with a
    JSON config of a format this version reads.

    The config is read first. expect(config), when given, returns {name: (shape, dtype)}:
    the members the config implies (it raises ModelFileError for a config it refuses). The
    archive must then hold exactly those members, each with that shape and dtype, checked
    from the zip directory and each .npy header before any of the member's data is read, so
    that what load decompresses is bounded by what the config describes."""
    if hasattr(path, "read"):
        if isinstance(path, _io.TextIOBase) or "b" not in getattr(path, "mode", "b"):
            raise TypeError(
                "the file object must be opened in binary mode ('rb'), got "
                f"mode {getattr(path, 'mode', 'text')!r}"
            )
        data, path = path.read(), getattr(path, "name", "<file object>")
    else:
        with open(path, "rb") as f:  # I/O errors stay OSError
            data = f.read()
    if not isinstance(data, bytes):
        raise TypeError("the file object must be opened in binary mode")

    def damaged(exc):
        return ModelFileError(
            f"{path!r} is damaged or not an mlpcore model file ({type(exc).__name__}: {exc})"
        )

    try:
        # Everything below parses bytes in memory: any failure is the file's content.
        zf = zipfile.ZipFile(_io.BytesIO(data))
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise ValueError("an archive member appears twice")
        for name in names:
            if not name.endswith(".npy"):
                raise ValueError(f"unexpected archive member {name!r}")
        if "config.npy" not in names:
            raise KeyError("config")
        info = infos[names.index("config.npy")]
        try:
            text = _read_member(zf, info, max_bytes=MAX_CONFIG_BYTES)
        except Exception as exc:
            raise ValueError(f"member 'config.npy': {exc}") from None
    except KeyError:
        raise ModelFileError(
            f"{path!r} is not an mlpcore model file (no JSON 'config' text)"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, ValueError, ...
        raise damaged(exc) from None
    if text.dtype.kind != "U" or text.shape != ():
        raise ModelFileError(f"{path!r} is not an mlpcore model file (no JSON 'config' text)")
    config = _parse_config(path, str(text))
    expected = None if expect is None else expect(config)
    if expected is None:  # nothing to check the members against: at least their total size
        _memory.require(
            sum(i.file_size for n, i in zip(names, infos) if n != "config.npy"),
            f"the members of {path!r}",
        )
    members = {n[:-4]: i for n, i in zip(names, infos) if n != "config.npy"}
    if expected is not None and set(members) != set(expected):
        missing, extra = sorted(set(expected) - set(members)), sorted(set(members) - set(expected))
        raise ModelFileError(
            f"{path!r} is not a valid mlpcore model: its members disagree with its config"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; not in the config: {', '.join(extra)}" if extra else "")
        )
    arrays = {}
    try:
        for name, info in members.items():
            try:
                arrays[name] = _read_member(zf, info, None if expected is None else expected[name])
            except MemoryError:
                raise
            except Exception as exc:
                raise ValueError(f"member {info.filename!r}: {exc}") from None
    except MemoryError:
        raise
    except Exception as exc:
        raise damaged(exc) from None
    finally:
        zf.close()
    return config, arrays
