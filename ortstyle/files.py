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


def check_writable_output(path: Path) -> Path:
    """Raise OrtStyleError unless a file can be created at `path`; checked before any work."""
    from ortstyle.errors import OrtStyleError

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OrtStyleError(f"output {path} is a folder; give a file name such as {path}/out.png")
    if not folder.is_dir():
        raise OrtStyleError(f"output folder {folder} does not exist; create it first")
    try:  # a real file: permission bits say nothing to root or of a read-only mount
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ortstyle-check-"):
            pass
    except OSError as error:
        raise OrtStyleError(
            f"output folder {folder} is not writable ({error.strerror or error})"
        ) from None
    return path
