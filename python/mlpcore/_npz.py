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
        raise TypeError(f"path must be a str or os.PathLike (or a file object), got "
                        f"{type(path).__name__}") from None
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
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
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
def _read_member(zf, info):
    """One .npy member of the archive as an array, refusing object (pickled) arrays and
    headers whose shape does not match the member's size before allocating anything."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError("it holds Python objects (pickled data), which are never loaded")
        count = 1
        for n in shape:
            count *= n
        if info.file_size - f.tell() != count * dtype.itemsize:
            raise ValueError(f"its header announces {dtype}{shape} ({count * dtype.itemsize} "
                             f"bytes) but it holds {info.file_size - f.tell()} bytes")
        data = f.read()
    if len(data) != count * dtype.itemsize:
        raise ValueError("it is truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    order = "F" if fortran else "C"
    return arr.reshape(shape, order=order).copy(order="C")


def read_archive(path):
    """The file's (config dict, {name: array}). OSError when the file cannot be read;
    ModelFileError when its content is not a well-formed archive of plain arrays with a
    JSON config of a format this version reads."""
    if hasattr(path, "read"):
        data, path = path.read(), getattr(path, "name", "<file object>")
    else:
        with open(path, "rb") as f:  # I/O errors stay OSError
            data = f.read()
    if not isinstance(data, bytes):
        raise TypeError("the file object must be opened in binary mode")
    try:
        # Everything below parses bytes in memory: any failure is the file's content.
        with zipfile.ZipFile(_io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ValueError("an archive member appears twice")
            arrays = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"unexpected archive member {info.filename!r}")
                try:
                    arrays[info.filename[:-4]] = _read_member(zf, info)
                except MemoryError:
                    raise
                except Exception as exc:
                    raise ValueError(f"member {info.filename!r}: {exc}") from None
    except MemoryError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, ValueError, ...
        raise ModelFileError(f"{path!r} is damaged or not an mlpcore model file "
                             f"({type(exc).__name__}: {exc})") from None
    config = arrays.pop("config", None)
    if config is None or config.dtype.kind != "U" or config.shape != ():
        raise ModelFileError(f"{path!r} is not an mlpcore model file (no JSON 'config' text)")
    try:
        config = json.loads(str(config))
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path!r}: its config is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("format"), str):
        raise ModelFileError(f"{path!r} is not an mlpcore model file (no format in its config)")
    newer = _FORMAT_RE.match(config["format"])
    if newer and int(newer.group(1)) > int(_FORMAT_RE.match(FORMAT).group(1)):
        raise ModelFileError(f"{path!r} was written in format {config['format']!r} by a newer "
                             f"mlpcore; this version reads {FORMAT!r}: upgrade mlpcore")
    if config["format"] not in (FORMAT, QUANTIZED_FORMAT):
        raise ModelFileError(f"{path!r} is not an mlpcore model file (format "
                             f"{config['format']!r}, expected {FORMAT!r})")
    return config, arrays
