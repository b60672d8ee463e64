"""Workflow-wide checks: config validation, lint, report captions, error on bad config."""
import re
import subprocess
import sys

import pytest

from conftest import REPO, snakemake


def _snakemake(*args):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=REPO, capture_output=True, text=True)


def test_lint_reports_nothing():
    proc = _snakemake("--lint")
    assert "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_every_report_item_has_a_caption():
    """(log, benchmark, threads and resources of every rule: tests/test_skeleton.py, through Snakemake)"""
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        for call in re.findall(r"report\((.*?\.rst\"[^)]*)\)", text, flags=re.S):
            assert "caption=" in call, f"{smk.name}: report item without caption"
            cap = re.search(r'caption="\.\./([^"]+)"', call).group(1)
            assert (REPO / cap).is_file(), cap


def test_bad_config_is_refused_with_the_key():
    proc = _snakemake("-n", "--config", "missions=[marsrover]")
    assert proc.returncode != 0 and "marsrover" in proc.stdout + proc.stderr


def test_report_has_captions(workflow_run, tmp_path):
    wd = workflow_run("vzlusat1")
    snakemake(wd, "--report", str(tmp_path / "report.html"), missions=["vzlusat1"])
    html = (tmp_path / "report.html").read_text()
    assert "quicklook of one archive folder" in html


@pytest.mark.parametrize("mission", ["vzlusat1", "foxsi", "asi"])
def test_wrong_input_directory_is_a_clear_error(mission, tmp_path):
    proc = _snakemake("-n", "--config", f"missions=[{mission}]", f"inputs={{{mission}: {tmp_path / 'nope'}}}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"config inputs.{mission}: {tmp_path / 'nope'}: not a directory" in out
    proc = _snakemake("-n", "--config", f"missions=[{mission}]", f"inputs={{{mission}: {tmp_path}}}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"config inputs.{mission}: {tmp_path}: no " in out


def test_default_run_plans_every_family_together(tmp_path):
    """All three families in one DAG (as `make run` does): no wildcard or rule-name clashes."""
    proc = snakemake(tmp_path, "-n", missions=["vzlusat1", "foxsi", "asi"])
    table = proc.stdout.split("Job stats:")[1].split("total")[0]
    planned = {line.split()[0] for line in table.splitlines()[3:] if line.strip()}
    for rule in ("build_vzlusat1_l0", "plot_vzlusat1_maps", "decode_foxsi_l0", "calibrate_asi_l1"):
        assert rule in planned


def test_a_failing_rule_leaves_its_error_in_its_log(tmp_path):
    """The job's log holds the one-line error and, below it, the traceback; Snakemake's output
    names the error and the log (issue: logs were empty)."""
    import shutil
    root = tmp_path / "asi"
    src = next((REPO / "resources" / "asi").rglob("*_tpas_themis15_full.pgm.gz"))
    dst = root / src.relative_to(REPO / "resources" / "asi")
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"this is not a PGM file" * 10)
    shutil.copytree(REPO / "resources" / "asi" / "THEMIS" / "asi" / "skymaps", root / "THEMIS" / "asi" / "skymaps")
    wd = tmp_path / "wd"
    proc = snakemake(wd, "--config", f"inputs={{asi: {root}}}", missions=["asi"], check=False)
    assert proc.returncode != 0
    log = wd / "logs" / "asi" / "calibrate_asi_l1" / "themis_tpas_themis15_20140310_ut06.log"
    text = log.read_text()
    assert "no readable frame in this site-hour" in text and "Traceback (most recent call last)" in text
    first = [ln for ln in text.splitlines() if "ERROR" in ln][0]
    assert "20140310_0600_tpas_themis15_full.pgm.gz" in first
    out = proc.stdout + proc.stderr
    assert "levelpipe: calibrate_asi_l1:" in out and str(log.relative_to(wd)) in out
    assert not (wd / "results" / "asi" / "l1" / "themis_tpas_themis15_20140310_ut06.nc").exists()
