"""Output checks and the cache folder's files."""

import sys
from pathlib import Path

import pytest

from ortstyle.errors import OrtStyleError
from ortstyle.files import check_writable_output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")
def test_a_folder_no_file_can_be_created_in_is_refused_even_for_root():
    # /proc refuses new files to everyone, though root passes os.access there: only a
    # real attempt tells.
    with pytest.raises(OrtStyleError, match=r"output folder /proc is not writable \("):
        check_writable_output(Path("/proc/out.png"))


def test_the_check_leaves_nothing_behind(tmp_path):
    assert check_writable_output(tmp_path / "out.png") == tmp_path / "out.png"
    assert list(tmp_path.iterdir()) == []
