"""The family skeleton: registry, rules loaded through Snakemake, settings as the one source of
config truth, variables tables, the granule index and its manifest, code digests, provenance."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import REPO, RESOURCES
from levelpipe.errors import ConfigError, LevelpipeError
from levelpipe.family import REGISTRY, families, get_family
from levelpipe.index import GranuleIndex, check_granule_name, read_manifest
from levelpipe.io.variables import apply_table, bad_count_attrs, parse_table, tables
from levelpipe.provenance import code_digest, import_closure
from levelpipe.settings import load_settings


# ------------------------------------------------------------------ rules through Snakemake

@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory):
    """Every rule of every family, as Snakemake itself parses the workflow."""
    from snakemake.api import ConfigSettings, OutputSettings, ResourceSettings, SnakemakeApi
    wd = tmp_path_factory.mktemp("rules")
    cfg = wd / "config.yaml"
    names = list(REGISTRY)
    cfg.write_text("missions: [" + ", ".join(names) + "]\ninputs: {"
                   + ", ".join(f"{n}: {RESOURCES / n}" for n in names) + "}\n")
    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=2),
                          config_settings=ConfigSettings(configfiles=[cfg]), snakefile=REPO / "Snakefile",
                          workdir=wd)
        return {r.name: r for r in wf._workflow.rules}


def _steps_by_rule():
    return {s.rule: (fam, name, s) for fam in families() for name, s in fam.steps.items()}


def test_every_rule_runs_a_family_step_with_log_benchmark_threads_resources(workflow_rules):
    steps = _steps_by_rule()
    for name, rule in workflow_rules.items():
        if name == "all":
            continue
        assert name in steps, f"rule {name} is not a step of any family (levelpipe.family.REGISTRY)"
        fam, step, spec = steps[name]
        assert rule.log and rule.benchmark, f"rule {name}: log and benchmark"
        assert rule.resources["_cores"] == spec.threads, f"rule {name}: threads must be the step's"
        assert "mem_mb" in rule.resources, f"rule {name}: resources mem_mb"
        assert Path(rule.script).name == "run_step.py", f"rule {name}: script"
    assert set(steps) <= set(workflow_rules), "every family step has its rule"


def test_registry_feeds_config_model():
    from levelpipe.workflow import run_config_model
    model = run_config_model()
    with pytest.raises(ConfigError, match="missions"):
        from levelpipe.settings import validate
        validate(model, {"missions": ["marsrover"], "inputs": {}})
    assert set(REGISTRY) <= set(model.model_json_schema()["properties"]["inputs"]["propertyNames"]["enum"])


# ------------------------------------------------------------------ settings

def test_schemas_and_catalogue_are_generated_from_the_models():
    """Fails when a settings model, a variables table or a step changes without regenerating
    config/schemas/*.yaml and docs/PRODUCTS.md (`levelpipe schema --write`, `catalogue --write`)."""
    from levelpipe.cli import main
    assert main(["schema", "--check"]) == 0
    assert main(["catalogue", "--check"]) == 0


@pytest.mark.parametrize("override, problem", [
    ({"dose": {"density_kg_m3": -3}}, "dose.density_kg_m3: Value error, must be > 0"),
    ({"dose": {"density": 3}}, "dose.density: unknown key"),
    ({"dose": {"pixels": [256]}}, "dose.pixels"),
    ({"maps": {"figure": {"dpi": "high"}}}, "maps.figure.dpi"),
])
def test_bad_values_name_the_key(override, problem):
    from levelpipe.timepix.settings import Vzlusat1Settings
    with pytest.raises(ConfigError) as err:
        load_settings(Vzlusat1Settings, REPO / "config" / "vzlusat1.yaml", override)
    assert "\n" not in str(err.value) and problem.replace("Value error, ", "") in str(err.value), str(err.value)


@pytest.mark.parametrize("family", list(REGISTRY))
def test_config_files_validate_and_carry_units(family):
    import astropy.units as u
    fam = get_family(family)
    settings = load_settings(fam.settings_model, REPO / "config" / f"{family}.yaml")
    quantities = []

    def walk(obj):
        for v in (obj.__dict__.values() if hasattr(obj, "__dict__") else []):
            if isinstance(v, u.Quantity):
                quantities.append(v)
            elif isinstance(v, dict):
                for x in v.values():
                    quantities.append(x) if isinstance(x, u.Quantity) else walk(x)
            else:
                walk(v)
    walk(settings)
    assert quantities, "physical settings are astropy quantities"
    # the plain form (params, provenance) validates back to the same settings
    again = fam.settings_model.model_validate(settings.plain())
    assert again.plain() == settings.plain()


@pytest.mark.parametrize("text, problem", [
    (b"l0: {assume_energy_mode_when_unknown: \xff}\n", "not UTF-8"),
    (b"x: " + b"[" * 200 + b"]" * 200 + b"\n", "nested more than 32 levels"),
    (b"dose: {density_kg_m3: " + b"9" * 5000 + b"}\n", "invalid YAML"),
    (b"a: &a [1, 2]\nb: [*a, *a]\n", "aliases"),
    (b"l0: [1\n", "line 2, column 1"),
    (b"l0: {}\nl0: {}\n", "key 'l0' given twice"),
    (b"[l0]: {}\n", "a key that is a list or a mapping"),  # found by make fuzz (was a TypeError)
])
def test_bad_config_files_give_one_line_errors(tmp_path, text, problem):
    from levelpipe.timepix.settings import Vzlusat1Settings
    path = tmp_path / "vz.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as err:
        load_settings(Vzlusat1Settings, path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and problem in msg, msg


# ------------------------------------------------------------------ variables tables

def test_every_table_parses_and_every_step_table_exists():
    for fam in families():
        found = {t.product for t in tables(fam.package)}
        declared = {t for s in fam.steps.values() for t in s.tables}
        assert declared <= found, f"{fam.name}: tables {declared - found} missing"


TABLE = {
    "product": "demo", "description": "a demo product",
    "variables": {
        "time": {"dims": ["time"], "dtype": "datetime64[ns]", "long_name": "time", "standard_name": "time"},
        "counts": {"dims": ["time", "channel?"], "dtype": "int32", "units": "1", "long_name": "counts",
                   "fill": -1},
        "flags": {"dims": ["time"], "dtype": "uint8", "long_name": "quality", "flag_masks": {"a": 1, "b": 4}},
        "note": {"dims": [], "dtype": "float64", "units": "s", "long_name": "note", "optional": True},
    },
}


def _demo(**extra):
    t = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]")
    data = {"counts": ("time", np.array([1, 2], np.int64)), "flags": ("time", np.array([0, 5], np.int64))}
    data.update(extra)
    return xr.Dataset(data, coords={"time": t})


def test_apply_table_sets_attributes_casts_and_fills():
    out = apply_table(_demo(), parse_table(TABLE, "demo"))
    assert out["counts"].dtype == np.int32 and out["counts"].encoding["_FillValue"] == -1
    assert out["flags"].dtype == np.uint8 and list(out["flags"].attrs["flag_masks"]) == [1, 4]
    assert out["flags"].attrs["flag_meanings"] == "a b" and out["time"].attrs["standard_name"] == "time"


@pytest.mark.parametrize("bad, message", [
    (dict(extra=("time", np.zeros(2))), "'extra' is not in the variables table"),
    (dict(counts=("time", np.array([1.5, 2.0]))), "table says int32"),
    (dict(counts=(("time", "x"), np.zeros((2, 3), np.int32))), "has dims"),
    (dict(counts=("time", np.array([1, 2 ** 40]))), "outside int32"),
])
def test_apply_table_refuses_drift(bad, message):
    with pytest.raises(LevelpipeError, match=message):
        apply_table(_demo(**bad), parse_table(TABLE, "demo"))


def test_apply_table_refuses_a_missing_variable_and_conflicting_attributes():
    with pytest.raises(LevelpipeError, match="'flags' of the variables table is missing"):
        apply_table(_demo().drop_vars("flags"), parse_table(TABLE, "demo"))
    ds = _demo()
    ds["counts"].attrs["units"] = "m"
    with pytest.raises(LevelpipeError, match="sets units='m'"):
        apply_table(ds, parse_table(TABLE, "demo"))


def test_bad_count_convention():
    attrs = bad_count_attrs("frames", 97, {"checksum": 2, "truncated": 1}, ("checksum", "sync", "truncated"))
    assert attrs == {"frames_decoded": 97, "bad_frames_checksum": 2, "bad_frames_sync": 0,
                     "bad_frames_truncated": 1, "bad_frames_total": 3}
    with pytest.raises(ValueError):
        bad_count_attrs("frames", 1, {"alien": 1}, ("checksum",))


# ------------------------------------------------------------------ granule index and manifest

@pytest.mark.parametrize("name", ["a{b}", ".", "x/../y", "a\\b", ".hidden", "", "a b", "x//y"])
def test_unusable_granule_names_are_refused_alone(name):
    index = GranuleIndex("demo", "/")
    index.add(name, {"raw": ["/x"]})
    index.add("good_one", {"raw": ["/y"]})
    assert index.names == ["good_one"] and name in index.refused and check_granule_name(name)


def test_manifest_round_trip_and_user_edits(tmp_path):
    fam = get_family("asi")
    settings = load_settings(fam.settings_model, REPO / "config" / "asi.yaml")
    index = fam.index(RESOURCES / "asi", settings).sorted()
    manifest = tmp_path / "asi.tsv"
    index.write(manifest)
    again = read_manifest(manifest, "asi", fam.roles, fam.required_roles)
    assert again.granules == index.granules
    # a user drops one granule and points another at a file that does not exist
    lines = manifest.read_text().splitlines()
    drop = "themis_tpas_themis15_20140310_ut06"
    edited = [ln for ln in lines if not ln.startswith(drop)]
    edited = [ln.replace("rego_skymap_gill_20140101-+_v01.sav", "missing.sav") for ln in edited]
    manifest.write_text("\n".join(edited) + "\n")
    user = read_manifest(manifest, "asi", fam.roles, fam.required_roles)
    assert drop not in user.granules and "rego_gill_rego-652_20140310_ut06" in user.refused
    assert "does not exist" in user.refused["rego_gill_rego-652_20140310_ut06"]
    manifest.write_text(manifest.read_text().replace("\traw\t", "\tbogus\t", 1))
    with pytest.raises(ConfigError, match="unknown role 'bogus'"):
        read_manifest(manifest, "asi", fam.roles, fam.required_roles)


def test_index_command_line(tmp_path):
    out = tmp_path / "vz.tsv"
    proc = subprocess.run([sys.executable, "-m", "levelpipe.cli", "index", "vzlusat1", str(RESOURCES / "vzlusat1"),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "above_europe\traw\traw/above_europe/7_fullres.txt" in text
    assert "planetary_sweeps/12_2020-06-09\tclusters\t" in text


# ------------------------------------------------------------------ code digest, provenance

def test_code_digest_covers_the_steps_import_closure_only():
    l0 = {p.name for p in import_closure("levelpipe.timepix.l0")}
    assert "l0.py" in l0 and "formats.py" in l0 and "netcdf.py" in l0
    assert "browser.py" not in l0 and "maps.py" not in l0, "a browser change must not rerun L0"
    assert code_digest("levelpipe.timepix.l0") != code_digest("levelpipe.timepix.browser")


def test_reruns_give_byte_identical_products_without_source_date_epoch(tmp_path, monkeypatch):
    from levelpipe.io import write_netcdf
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"raw")
    os.utime(raw, (1_600_000_000, 1_600_000_000))
    ds = xr.Dataset({"x": ("t", np.arange(3.0), {"units": "s", "long_name": "x"})})
    kw = dict(title="t", summary="s", mission="demo", level="L1")
    a = write_netcdf(ds, tmp_path / "a1.nc", inputs=[raw], history="make_demo_l1: demo:l1", **kw)
    b = write_netcdf(ds, tmp_path / "a2.nc", inputs=[raw], history="make_demo_l1: demo:l1", **kw)
    assert a.read_bytes() == b.read_bytes()
    top = xr.open_dataset(a).attrs
    assert top["date_created"] == "2020-09-13T12:26:40Z"
    # downstream: the history keeps the upstream line and appends its own
    c = write_netcdf(ds, tmp_path / "b.nc", inputs=[a], history="make_demo_l2: demo:l2", **{**kw, "level": "L2"})
    lines = xr.open_dataset(c).attrs["history"].splitlines()
    assert lines[0] == top["history"] and "make_demo_l2: demo:l2" in lines[1]
    assert xr.open_dataset(c).attrs["date_created"] == top["date_created"]


def test_library_imports_without_snakemake():
    code = ("import sys; sys.modules['snakemake'] = None\n"
            "import levelpipe.family, levelpipe.steps, levelpipe.workflow\n"
            "for f in levelpipe.family.families(): [s.resolve() for s in f.steps.values()]\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_file_cache_looks_again_only_when_the_file_or_the_key_changes(tmp_path):
    from levelpipe.index import FileCache
    f = tmp_path / "a.bin"
    f.write_bytes(b"x")
    calls = []

    def look():
        calls.append(1)
        return {"days": ["2019-01-02"]}
    store = tmp_path / "cache" / "demo.json"
    c = FileCache(store)
    assert c.lookup(f, "k1", look) == {"days": ["2019-01-02"]}
    c.save()
    c = FileCache(store)  # the next parse
    assert c.lookup(f, "k1", look) == {"days": ["2019-01-02"]} and len(calls) == 1
    c.lookup(f, "k2", look)  # other settings shape the look
    f.write_bytes(b"xy")     # the file changed
    c.lookup(f, "k2", look)
    assert len(calls) == 3
    store.write_text("{not json")
    assert FileCache(store).lookup(f, "k2", look) and len(calls) == 4  # a damaged cache is ignored
