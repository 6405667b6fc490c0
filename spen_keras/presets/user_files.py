"""A user's output file: checked before any work, written atomically.

Every family's command that writes a file the user named (`denoise`,
`srl-label`, `predict-labels`) checks it with `check_output_file` before
its model loads, and writes it with `write_atomically`. Both raise the
family's own error class (a `ValueError` the command line prints as one
line, exit status 2), and every message names the user's path, never a
temporary file's.
"""

import os
import pathlib
import tempfile


def folder_is_writable(folder):
    """Whether new files can be created in `folder` (by permissions; the
    write itself still catches what permissions do not show, such as a
    read-only file system)."""
    return os.access(folder, os.W_OK | os.X_OK)


def check_output_file(output, input_path=None, overwrite=False, suffix=None,
                      suffix_reason=None, error=ValueError):
    """Refuses an output that would lose data or could not be written.

    Checked in this order, before any model runs: the output is not a
    directory, ends in `suffix` (if given), its folder exists and is
    writable, it is not the input file (even with `overwrite`), and it does
    not exist unless `overwrite`.

    Args:
        output: the output path the user gave.
        input_path: the input it must not replace, or None.
        overwrite: whether an existing output may be replaced.
        suffix: the extension the output must have (".png"), or None.
        suffix_reason: why, for the message ("the output is a 16-bit
            depth PNG").
        error: the exception class to raise (the family's own).

    Returns:
        The output as a `pathlib.Path`.

    Raises:
        error: one line naming the output (or its folder) and what to do.
    """
    output = pathlib.Path(output)
    name_hint = f" ending in {suffix}" if suffix else ""
    if output.is_dir():
        raise error(f"Output {output} is a directory; give a file "
                    f"name{name_hint}.")
    if suffix and output.suffix.lower() != suffix:
        reason = f": {suffix_reason}" if suffix_reason else ""
        raise error(f"Output {output} must end in {suffix}{reason}.")
    folder = output.parent
    if not folder.is_dir():
        raise error(f"Output folder {folder} does not exist.")
    if not folder_is_writable(folder):
        raise error(f"Output folder {folder} is not writable.")
    if (input_path is not None and output.exists()
            and pathlib.Path(input_path).exists()
            and os.path.samefile(input_path, output)):
        raise error(f"Output {output} is the input file; choose another "
                    "output.")
    if output.exists() and not overwrite:
        raise error(f"Output {output} exists; pass --overwrite to replace "
                    "it.")
    return output


def write_atomically(output, write, error=ValueError):
    """Writes a user's output file completely or not at all.

    `write(temporary)` writes the content to a temporary file beside
    `output`, which is then renamed over it: an existing output is only
    ever replaced by a complete one, and the temporary file is removed
    whatever happens.

    Args:
        output: the output path the user gave.
        write: callable taking the temporary file's path.
        error: the exception class to raise (the family's own).

    Raises:
        error: when the file cannot be created or written (a read-only
            folder or file system, a full disk), naming `output`.
    """
    output = pathlib.Path(output)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.",
                                             suffix=".part", dir=output.parent)
        os.close(handle)
        write(temporary)
        os.replace(temporary, output)
    except OSError as caught:
        # The OS names the temporary file; the user only knows `output`.
        reason = caught.strerror or type(caught).__name__
        raise error(f"Cannot write the output {output} ({reason}).") from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
