"""``lunglens info``: the JSON schema, the table, exit codes, no patient names, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inference.cli import main
from inference.phantoms import PHANTOM_PATIENT_NAME, PHANTOM_PATIENT_ID, make_ct_phantom, write_ct_series, write_mixed_folder

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("info")
    mixed = write_mixed_folder(root / "study", shape=(8, 32, 32))
    hu, _ = make_ct_phantom((6, 32, 32), (5.0, 10.0, 10.0))
    write_ct_series(root / "study" / "tilted", hu, (5.0, 10.0, 10.0), tilt_deg=10.0, description="Tilted")
    return mixed.root


def run_info(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["info", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lists_series_and_skipped_files_with_the_documented_schema(study, capsys):
    code, out, err = run_info(capsys, str(study), "--json")
    assert code == 0 and err == ""
    document = json.loads(out)
    assert set(document) >= {"series", "skipped"}
    by_description = {s["description"]: s for s in document["series"]}
    assert set(by_description) == {"Phantom lung", "Phantom thick", "Tilted", "Phantom chest PA MONOCHROME1"}
    for row in document["series"]:
        assert set(row) >= {"uid", "modality", "description", "shape", "spacing_mm", "warnings"}
        assert isinstance(row["uid"], str) and row["uid"] and isinstance(row["warnings"], list)
    lung = by_description["Phantom lung"]
    assert lung["modality"] == "CT" and lung["shape"] == [8, 32, 32] and lung["spacing_mm"] == [10.0, 6.0, 6.0]
    assert any("Gantry tilt of 10.0 deg" in w for w in by_description["Tilted"]["warnings"])
    xray = by_description["Phantom chest PA MONOCHROME1"]
    assert xray["modality"] == "XR" and xray["shape"] == [128, 128] and xray["spacing_mm"] == [0.5, 0.5]
    reasons = {Path(s["path"]).name: s["reason"] for s in document["skipped"]}
    assert set(reasons) == {"notes.txt", "broken.dcm", "report", "state"}


def test_unknown_spacing_is_null_in_json(tmp_path, capsys):
    from inference.phantoms import make_xray_phantom, write_xray_png

    write_xray_png(tmp_path / "xr.png", make_xray_phantom((32, 32))[0])
    code, out, _ = run_info(capsys, str(tmp_path / "xr.png"), "--json")
    [row] = json.loads(out)["series"]
    assert code == 0 and row["spacing_mm"] is None and row["shape"] == [32, 32]


def test_table_is_readable_and_names_no_patient(study, capsys):
    code, out, err = run_info(capsys, str(study))
    assert code == 0
    assert "4 series, 4 skipped" in out
    assert "8 x 32 x 32" in out and "10 x 6 x 6" in out and "warning: Gantry tilt" in out
    assert "notes.txt: not a DICOM" in out
    assert "reading" in err  # progress goes to stderr, the table to stdout
    for text in (out, err):
        assert PHANTOM_PATIENT_NAME not in text and "Phantom^" not in text and PHANTOM_PATIENT_ID not in text


def test_exit_codes_for_nothing_loadable_and_a_missing_path(tmp_path, capsys):
    (tmp_path / "readme.txt").write_text("not an image")
    code, out, _ = run_info(capsys, str(tmp_path), "--json")
    assert code == 1 and json.loads(out)["series"] == [] and len(json.loads(out)["skipped"]) == 1
    code, _, err = run_info(capsys, str(tmp_path / "missing"), "--json")
    assert code == 2 and "does not exist" in err


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "--help"])
    assert exit_info.value.code == 0 and "--json" in capsys.readouterr().out


def test_installed_style_invocation_in_a_fresh_process(study):
    before = sorted((p, p.stat().st_mtime_ns) for p in study.rglob("*"))
    completed = subprocess.run(
        [sys.executable, "-m", "inference.cli", "info", str(study), "--json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)["series"]) == 4
    assert sorted((p, p.stat().st_mtime_ns) for p in study.rglob("*")) == before
