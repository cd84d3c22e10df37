"""The keyword libraries' documentation, as libdoc renders it for suite authors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from robot.libdoc import LibraryDocumentation

SCRIPT = Path(__file__).parents[2] / "docs" / "generate_libdoc.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("generate_libdoc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate_libdoc = _load_script()
LIBRARIES = generate_libdoc.library_files()


def test_the_checks_below_cover_the_suite_libraries():
    names = {path.stem for path in LIBRARIES}

    assert {"Infrastructure", "KafkaConsumption", "ChaosReport"} <= names


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda path: path.stem)
def test_library_documentation_opens_with_a_table_of_contents(library):
    documentation = LibraryDocumentation(str(library))

    assert "%TOC%" in documentation.doc, f"{library.stem}: the class docstring has no %TOC%"


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda path: path.stem)
def test_import_arguments_are_documented(library):
    documentation = LibraryDocumentation(str(library))

    for init in documentation.inits:
        assert init.doc.strip(), f"{library.stem}: the importing section is empty"
        assert not init.doc.startswith("Initialize self"), (
            f"{library.stem}: __init__ has no docstring, libdoc shows Python's"
        )


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda path: path.stem)
def test_every_keyword_is_documented(library):
    documentation = LibraryDocumentation(str(library))

    undocumented = [keyword.name for keyword in documentation.keywords if not keyword.doc.strip()]

    assert documentation.keywords, f"{library.stem} has no keywords"
    assert undocumented == [], f"{library.stem}: keywords without documentation"


def test_generate_writes_one_page_per_library(tmp_path):
    pages = generate_libdoc.generate(tmp_path / "libdoc")

    assert [page.name for page in pages] == [f"{path.stem}.html" for path in LIBRARIES]
    for page in pages:
        assert page.stem in page.read_text(encoding="utf-8")


def test_help_names_the_folder_the_pages_go_to_by_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        generate_libdoc.main(["--help"])

    assert exit_info.value.code == 0
    assert generate_libdoc.DEFAULT_OUTPUT_DIR == generate_libdoc.PROJECT_ROOT / "results" / "libdoc"
    assert "default: results/libdoc/" in " ".join(capsys.readouterr().out.split())
