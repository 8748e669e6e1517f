"""Architecture guards: the platform/ folder must never shadow the standard library's ``platform``."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_folder_is_not_a_package():
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_stdlib_platform_imports_from_repo_root():
    out = subprocess.run(
        [sys.executable, "-c", "import platform; print(platform.system()); print(platform.__file__)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    system, path = out.stdout.split()
    assert system
    assert not path.startswith(str(ROOT))


def test_creditfactory_imports_from_platform_folder():
    import creditfactory

    assert Path(creditfactory.__file__).resolve().is_relative_to(ROOT / "platform" / "creditfactory")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line.strip() for line in readme.splitlines() if line.strip().endswith("python -m pytest"))
    assert command in ci
