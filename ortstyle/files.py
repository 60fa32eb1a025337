"""Where ortstyle keeps its files, and how it writes them whole or not at all."""

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import platformdirs

CACHE_ENV = "ORTSTYLE_CACHE"  # overrides the user's cache folder (tests, read-only homes)


def _folder(path: Path) -> Path:
    """Create `path` if needed; OrtStyleError naming it if that is impossible."""
    from ortstyle.errors import OrtStyleError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OrtStyleError(
            f"cache folder {path} cannot be used ({error.strerror}); set {CACHE_ENV} to a "
            "writable folder"
        ) from error
    return path


def cache_dir() -> Path:
    """The folder for exported models and engine caches, created on demand."""
    return _folder(Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("ortstyle")))


def models_dir() -> Path:
    """The folder of cached exported models."""
    return _folder(cache_dir() / "models")


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target: Path):
    """Yield a temporary path beside `target`; on success it is renamed onto `target`.

    A crash, an exception or Ctrl-C leaves `target` as it was (absent or the old
    file), never half-written: rename within one folder is atomic on POSIX.
    """
    target = Path(target)
    # A short name: the target's own may already be near the file system's 255-byte limit.
    fd, tmp_name = tempfile.mkstemp(prefix=".ortstyle-", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


NAME_MAX_BYTES = 255  # the usual file-name limit (ext4, APFS, NTFS in UTF-16 units)


def check_writable_output(path: Path, appended: int = 0) -> Path:
    """Raise OrtStyleError unless a file can be created at `path`; checked before any work.

    `appended`: how many bytes longer the names of files written beside it get (a
    checkpoint's `.ckpt.npz`, numbered frames), so that those fit the name limit too.
    """
    from ortstyle.errors import OrtStyleError

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        if not folder.is_dir():
            raise OrtStyleError(f"output folder {folder} does not exist; create it first")
        _check_name_fits(path, folder, appended)
        if path.is_dir():
            raise OrtStyleError(
                f"output {path} is a folder; give a file name such as {path}/out.png"
            )
    except OSError as error:  # a folder name too long, a loop of links, ...
        raise OrtStyleError(f"output {path}: {error.strerror or error}") from None
    try:  # a real file: permission bits say nothing to root or of a read-only mount
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ortstyle-check-"):
            pass
    except OSError as error:
        raise OrtStyleError(
            f"output folder {folder} is not writable ({error.strerror or error})"
        ) from None
    return path


def _check_name_fits(path: Path, folder: Path, appended: int) -> None:
    from ortstyle.errors import OrtStyleError

    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # not POSIX: the common limit
        limit = NAME_MAX_BYTES
    length = len(os.fsencode(path.name))
    if length + appended > limit:
        beside = f" plus {appended} for the files written beside it" if appended else ""
        raise OrtStyleError(
            f"output file name {path.name[:24]}... is {length} bytes{beside}; this folder "
            f"allows {limit}: choose a shorter name"
        )


def check_distinct_outputs(outputs: dict, inputs: list) -> None:
    """Raise OrtStyleError if an output {option: path or None} is one of the `inputs` or
    another output: a run's end must not overwrite what it read, nor its own files."""
    from ortstyle.errors import OrtStyleError

    named = [(option, Path(path)) for option, path in outputs.items() if path is not None]
    taken = {Path(path).resolve() for path in inputs if path is not None and Path(path).is_file()}
    for index, (option, path) in enumerate(named):
        if path.resolve() in taken:
            raise OrtStyleError(f"{option} {path} is one of the input files; choose another name")
        for other, earlier in named[:index]:
            if path.resolve() == earlier.resolve():
                raise OrtStyleError(f"{option} {path} is the {other} file; choose another name")
