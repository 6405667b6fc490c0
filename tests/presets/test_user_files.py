"""The shared output-file check and atomic writer (`spen_keras.presets.user_files`)
that `denoise`, `srl-label` and `predict-labels` use: one-line errors of the
caller's class, naming the user's path (never a temporary file's)."""

import os
import pathlib

import pytest

from spen_keras.presets import user_files
from spen_keras.presets.user_files import check_output_file
from spen_keras.presets.user_files import write_atomically


class FamilyError(ValueError):
    """Stands for a family's own error class."""


def refused(match, *args, **kwargs):
    with pytest.raises(FamilyError, match=match) as info:
        check_output_file(*args, error=FamilyError, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("input")
    return path


def test_a_fresh_output_passes_and_nothing_is_written(tmp_path, source):
    output = check_output_file(str(tmp_path / "out.txt"), source,
                               error=FamilyError)
    assert output == tmp_path / "out.txt" and not output.exists()


def test_every_refusal_is_one_line_naming_the_path(tmp_path, source):
    (tmp_path / "a_dir").mkdir()
    existing = tmp_path / "old.txt"
    existing.write_text("mine")
    refused(rf"^Output {tmp_path / 'a_dir'} is a directory; give a file "
            r"name\.$", tmp_path / "a_dir", source)
    refused(r"is a directory; give a file name ending in \.png\.$",
            tmp_path / "a_dir", source, suffix=".png")
    refused(r"^Output .*out\.jpg must end in \.png: 16-bit\.$",
            tmp_path / "out.jpg", source, suffix=".png",
            suffix_reason="16-bit")
    refused(rf"^Output folder {tmp_path / 'no'} does not exist\.$",
            tmp_path / "no" / "out.txt", source)
    refused(rf"^Output {source} is the input file; choose another "
            r"output\.$", source, source, overwrite=True)
    refused(rf"^Output {existing} exists; pass --overwrite to replace "
            r"it\.$", existing, source)
    assert check_output_file(existing, source, overwrite=True,
                             error=FamilyError) == existing
    assert existing.read_text() == "mine"


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, source,
                                                      monkeypatch):
    # Root may write anywhere, so the permission test is simulated here
    # (and real below when not root).
    monkeypatch.setattr(user_files, "folder_is_writable", lambda f: False)
    refused(rf"^Output folder {tmp_path} is not writable\.$",
            tmp_path / "out.txt", source)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_real_read_only_folder_is_refused(tmp_path, source):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        refused(rf"^Output folder {folder} is not writable\.$",
                folder / "out.txt", source)
    finally:
        folder.chmod(0o755)


def test_write_atomically_writes_and_leaves_no_temporary_file(tmp_path):
    output = tmp_path / "out.txt"
    output.write_text("old")
    write_atomically(output, lambda temporary: pathlib.Path(
        temporary).write_text("new"), error=FamilyError)
    assert output.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_write_names_the_users_path_not_the_temporary(tmp_path):
    output = tmp_path / "out.txt"
    output.write_text("old")

    def fails(temporary):
        raise PermissionError(13, "Permission denied", temporary)

    with pytest.raises(FamilyError) as info:
        write_atomically(output, fails, error=FamilyError)
    assert str(info.value) == (f"Cannot write the output {output} "
                               "(Permission denied).")
    assert output.read_text() == "old"  # the old output is kept whole
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_other_errors_pass_through_and_leave_nothing(tmp_path):
    def fails(temporary):
        raise TypeError("not a uint16 array")

    with pytest.raises(TypeError, match="uint16"):
        write_atomically(tmp_path / "out.txt", fails, error=FamilyError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_folder_that_refuses_files_is_named_as_the_user_gave_it():
    # /proc passes the permission check as root but creates no file: the
    # OS's error names the temporary file, the message the user's path.
    with pytest.raises(FamilyError) as info:
        write_atomically("/proc/out.png", lambda temporary: None,
                         error=FamilyError)
    message = str(info.value)
    assert message.startswith("Cannot write the output /proc/out.png (")
    assert ".part" not in message and "\n" not in message
