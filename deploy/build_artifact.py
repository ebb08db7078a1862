"""Build the Lambda deployment package: iamwatch's code plus its runtime dependencies.

    python deploy/build_artifact.py [--output build/iamwatch.zip]

Dependencies (deploy/requirements-lambda.txt) are installed as manylinux wheels for the Lambda
platform (arm64, CPython 3.11), never compiled here. The zip is deterministic (sorted entries,
fixed timestamps), so an unchanged tree gives an unchanged artifact and no needless deploy.
The installed dependencies are cached under build/ keyed by the requirements file's hash.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "deploy" / "requirements-lambda.txt"
CODE = ("iamwatch", "detectors", "handlers", "runbooks")
# The detectors' fixture cases (a link to tests/events, package data for `iamwatch slack`'s
# samples) have no use in Lambda.
NOT_DEPLOYED = ("detectors/cases",)
PLATFORM = "manylinux2014_aarch64"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def dependencies(build: Path) -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    target = build / f"dependencies-{digest}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
            "--platform", PLATFORM, "--implementation", "cp", "--python-version", "3.11",
            "--only-binary=:all:", "--target", str(target), "-r", str(REQUIREMENTS),
        ],
        check=True,
    )  # fmt: skip
    (target / ".complete").touch()
    return target


def _unused(name: str) -> bool:
    """``ocsf-json-schema`` ships the schema of every OCSF release (~24 MB); the export
    validates against one (iamwatch/export/ocsf.py), so the others stay out of the zip."""
    from iamwatch.export.ocsf import OCSF_VERSION

    folder, _, file_name = name.rpartition("/")
    return folder == "ocsf_json_schema/ocsf" and file_name != f"{OCSF_VERSION}.json"


def _files(base: Path, relative_to: Path) -> list[tuple[Path, str]]:
    entries = []
    for path in sorted(base.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        name = path.relative_to(relative_to).as_posix()
        if path.name == ".complete" or _unused(name):
            continue
        if any(name == folder or name.startswith(f"{folder}/") for folder in NOT_DEPLOYED):
            continue
        entries.append((path, name))
    return entries


def build(output: Path) -> Path:
    build_dir = output.parent
    build_dir.mkdir(parents=True, exist_ok=True)
    entries = _files(dependencies(build_dir), dependencies(build_dir))
    for package in CODE:
        entries.extend(_files(ROOT / package, ROOT))
    entries.sort(key=lambda entry: entry[1])
    temporary = output.with_suffix(".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    temporary.replace(output)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "iamwatch.zip")
    built = build(parser.parse_args().output)
    print(f"built {built} ({built.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
