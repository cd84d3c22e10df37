"""Robot Framework keywords about the application as built and run on this machine."""

from __future__ import annotations

import compileall
import importlib
import re
import socket
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from robot.api import logger
from robot.api.deco import keyword, library

_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


@library(scope="GLOBAL", version="1.0")
class Application:
    """Check that the application builds, and help run it as a process.

    The Python counterpart of the seed's ``mvn clean install``: every pinned dependency is
    installed at its pinned version, the sources byte-compile, the app module imports.

    %TOC%

    = Example =

    | Installed Packages Should Match Requirements |
    | Sources Should Compile | service |
    | Module Should Import | service.app |
    """

    def __init__(self, project_root: str | None = None) -> None:
        """Configure the library (the import arguments).

        | ``project_root`` | The project folder (default: the folder above ``resources``). |

        Example:
        | Library | libraries/Application.py |
        """
        self._root = Path(project_root) if project_root else Path(__file__).parents[2]

    @keyword("Installed Packages Should Match Requirements")
    def installed_packages_should_match_requirements(
        self, requirements: str = "requirements.txt"
    ) -> int:
        """Fail unless every ``name==version`` line of the file is installed at that version.

        Returns how many pins were checked.

        Example:
        | ${pins}= | Installed Packages Should Match Requirements |
        """
        problems, checked = [], 0
        for line in (self._root / requirements).read_text(encoding="utf-8").splitlines():
            match = _PIN.match(line)
            if not match:
                continue
            name, wanted = match.groups()
            checked += 1
            try:
                installed = metadata.version(name)
            except metadata.PackageNotFoundError:
                problems.append(f"{name} is not installed (wanted {wanted})")
                continue
            if installed != wanted:
                problems.append(f"{name} {installed} is installed, {wanted} is pinned")
        if problems:
            raise AssertionError(
                "dependencies do not match requirements.txt (run `pip install -r "
                "requirements.txt`):\n" + "\n".join(problems)
            )
        logger.info(f"All {checked} pinned dependencies are installed at their pinned version")
        return checked

    @keyword("Sources Should Compile")
    def sources_should_compile(self, package: str) -> None:
        """Byte-compile every module of ``package``; fail on any syntax error.

        Example:
        | Sources Should Compile | service |
        """
        folder = self._root / package
        if not compileall.compile_dir(str(folder), quiet=1, force=True):
            raise AssertionError(f"{package} does not compile (see the output above)")
        logger.info(f"{package} byte-compiles")

    @keyword("Module Should Import")
    def module_should_import(self, module: str) -> None:
        """Import ``module`` (nothing connects at import time); fail with the error if it cannot.

        Example:
        | Module Should Import | service.app |
        """
        try:
            importlib.import_module(module)
        except Exception as ex:
            raise AssertionError(f"{module} does not import: {type(ex).__name__}: {ex}") from None
        logger.info(f"{module} imports")

    @keyword("Python Executable")
    def python_executable(self) -> str:
        """Return the interpreter running the suite, to start the service with the same one.

        Example:
        | ${python}= | Python Executable |
        | Start Process | ${python} | -m | service |
        """
        return sys.executable

    @keyword("Port Of")
    def port_of(self, url: str) -> int:
        """Return the port of ``url`` (80 or 443 when the URL has none).

        Example:
        | ${port}= | Port Of | http://127.0.0.1:8082 |
        """
        parts = urlsplit(url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @keyword("Port Should Be Free")
    def port_should_be_free(self, url: str) -> None:
        """Fail if something already listens at the host and port of ``url``, saying what to set.

        Example:
        | Port Should Be Free | ${SERVICE_URL} |
        """
        parts = urlsplit(url)
        port = self.port_of(url)
        with socket.socket() as probe:
            probe.settimeout(0.5)
            busy = probe.connect_ex((parts.hostname or "127.0.0.1", port)) == 0
        if busy:
            raise AssertionError(
                f"something already listens on {parts.hostname}:{port}; stop it, or run with "
                f"-v SERVICE_URL:http://127.0.0.1:<free port>, or -v START_SERVICE:False to use "
                "a service that already runs there"
            )
