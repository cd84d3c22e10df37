"""Render the suite's keyword libraries as libdoc HTML pages.

Every ``*.py`` module in ``resources/libraries/`` is one keyword library (module and class
named alike); each becomes ``<Name>.html`` in the output folder. CI runs this script so the
pages travel with the test results (the pages embed local paths, so they are not committed).

Usage::

    python docs/generate_libdoc.py [OUTPUT_DIR]    # default: results/libdoc/

The libraries import the project's packages (``evidence``, ``embedded_stack``), so run it in
the environment where ``requirements.txt`` is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robot.libdoc import libdoc

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LIBRARIES_DIR = PROJECT_ROOT / "resources" / "libraries"
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "results" / "libdoc"


def library_files(folder: Path = LIBRARIES_DIR) -> list[Path]:
    """Return the keyword library modules of ``folder``, sorted by name.

    Args:
        folder: The folder that holds one library per ``.py`` file.

    Returns:
        The paths of the library modules; private modules (``_name.py``) are left out.
    """
    return sorted(path for path in folder.glob("*.py") if not path.name.startswith("_"))


def generate(output_dir: Path, libraries: list[Path] | None = None) -> list[Path]:
    """Write one libdoc HTML page per library into ``output_dir``.

    Args:
        output_dir: The folder for the pages; created when missing.
        libraries: The library modules to render (default: every one in
            ``resources/libraries/``).

    Returns:
        The paths of the pages written.

    Raises:
        RuntimeError: When libdoc cannot render a library (it names the library).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for library in libraries if libraries is not None else library_files():
        page = output_dir / f"{library.stem}.html"
        # libdoc reports problems through its return code, not exceptions.
        if libdoc(str(library), str(page), format="HTML", quiet=True) != 0:
            raise RuntimeError(f"libdoc could not render {library}")
        written.append(page)
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, render every library, and name the pages written.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 when every library rendered, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "output_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=(
            "folder for the HTML pages (default: "
            f"{DEFAULT_OUTPUT_DIR.relative_to(PROJECT_ROOT).as_posix()}/ in the project)"
        ),
    )
    args = parser.parse_args(argv)
    try:
        pages = generate(args.output_dir)
    except RuntimeError as ex:
        sys.stderr.write(f"{ex}\n")
        return 1
    for page in pages:
        sys.stdout.write(f"{page}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
