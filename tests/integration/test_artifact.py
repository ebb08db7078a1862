"""The Lambda artifact `make package` builds (build/iamwatch.zip): every function's handler is
in it, and the export's OCSF schema survives the pruning of unused OCSF releases."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from iamwatch.export.ocsf import OCSF_VERSION
from tests.conftest import ROOT
from tests.template import resources_of

# Reads what `make package` builds (osls, from npm): `make test` runs it, plain pytest does not.
pytestmark = pytest.mark.packaged

ARTIFACT = ROOT / "build" / "iamwatch.zip"


@pytest.fixture(scope="module")
def names() -> set[str]:
    assert ARTIFACT.is_file(), "no artifact: run `make package` (make test does)"
    with zipfile.ZipFile(ARTIFACT) as archive:
        return set(archive.namelist())


def test_every_function_handler_is_in_the_artifact(names: set[str]) -> None:
    handlers = {
        function["Properties"]["Handler"]
        for function in resources_of("AWS::Lambda::Function").values()
    }
    assert "handlers/export.handler" in handlers
    for handler in handlers:
        module, _, _ = handler.rpartition(".")
        assert f"{module}.py" in names, handler


def test_the_detectors_fixture_cases_are_not_deployed(names: set[str]) -> None:
    """They are package data for `iamwatch slack`'s samples, of no use in Lambda."""
    assert "detectors/__init__.py" in names and "runbooks/root-account-used.md" in names
    assert not [name for name in names if name.startswith("detectors/cases")]
    assert not [name for name in names if name.startswith("detectors/") and name.endswith(".json")]


def test_only_the_ocsf_release_the_export_claims_is_packaged(
    names: set[str], tmp_path: Path
) -> None:
    schemas = sorted(name for name in names if name.startswith("ocsf_json_schema/ocsf/"))
    assert schemas == [f"ocsf_json_schema/ocsf/{OCSF_VERSION}.json"]
    # The packaged library still finds it (it is pure Python; jsonschema is not needed here).
    with zipfile.ZipFile(ARTIFACT) as archive:
        archive.extractall(tmp_path, [n for n in names if n.startswith("ocsf_json_schema/")])
    probe = "; ".join(
        [
            f"import sys; sys.path.insert(0, {str(tmp_path)!r})",
            "import ocsf_json_schema as lib",
            f"assert lib.__file__.startswith({str(tmp_path)!r}), lib.__file__",
            f"assert 'detection_finding' in lib.get_ocsf_schema({OCSF_VERSION!r})['classes']",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
