"""One CLI contract for EVERY command (issue 20 item 6; issue 21 items 5 and 6).

* The commands are enumerated from the typer app, so a new command fails
  ``test_every_command_has_a_contract`` until it is added to ``TEMPLATES`` (and is then
  covered by every test below).
* Global flags (``-q``, ``-v``, ``--version``) before or after the command.
* Exit codes as the README lists: a path not found / not a dataset / a bad value = 2, input
  problems = 1, ok = 0; a refusal is ONE line on stderr, never a traceback.
* Every numeric option range-checked with the option named (hypothesis draws the values).
* The broken-input corpus (tests/badinputs.py: copies of a real build, a real tiny run and
  real files, cut/replaced/re-pointed at test time) through every command: no traceback,
  no last-resort line (each case is handled where it happens), the documented exit code.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import typing
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from badinputs import (
    BASE,
    NON_UTF8,
    audio_variants,
    dataset_variants,
    readonly_dir,
    run_variants,
)
from motionpair import __version__
from motionpair.cli import app
from motionpair.commands._shared import hoist_global_flags

TINY_TRAIN = ["--steps", "2", "--batch", "4", "--width", "16", "--layers", "1", "--heads", "2",
              "--val-every", "1", "--ckpt-every", "1", "--threads", "1", "--device", "cpu",
              "--distill-steps", "0"]

#: How each command is called on good inputs; ``{KIND}`` is replaced by a path of that kind.
TEMPLATES: dict[str, list[str]] = {
    "scan": ["{INPUT}"],
    "build": ["{INPUT}", "--out", "{OUT}", "--cache", "{CACHE}", "--workers", "1"],
    "verify": ["{DATASET}"],
    "preview": ["{DATASET}", "--out", "{OUT}/p.png"],
    "align": ["{INPUT}", "--out", "{OUT}", "--cache", "{CACHE}"],
    "report": ["{DATASET}", "--out", "{OUT}"],
    "export-shards": ["{DATASET}", "--format", "webdataset", "--out", "{OUT}"],
    "train": ["{DATASET}", "--out", "{OUT}", *TINY_TRAIN],
    "train-smoke": ["{DATASET}", "--max-epochs", "1", "--seconds", "5"],
    "generate": ["{RUN}", "{AUDIO}", "--out", "{OUT}", "--no-video"],
    "evaluate": ["{RUN}", "{DATASET}", "--split", "test"],
    "export": ["{RUN}", "--no-coreml", "--out", "{OUT}"],
    "prep-audio": ["{AUDIODIR}", "--out", "{OUT}"],
    "capture": ["{VIDEO}", "--out", "{OUT}"],
    "capture-preview": ["{SESSION}", "{VIDEO}", "--out", "{OUT}/p.png"],
    "capture-evidence": ["{CAPROOT}"],
    "doctor": [],
}

#: Kinds that must exist (OUT and CACHE are created by the command).
INPUT_KINDS = ("INPUT", "DATASET", "RUN", "AUDIO", "AUDIODIR", "VIDEO", "SESSION", "CAPROOT")

LAST_RESORT = "-v shows the traceback"


def commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def run(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def fill(template: list[str], paths: dict[str, Path | str]) -> list[str]:
    out = []
    for a in template:
        for kind, p in paths.items():
            a = a.replace("{" + kind + "}", str(p))
        out.append(a)
    return out


def kinds_of(command: str) -> list[str]:
    return sorted({k for a in TEMPLATES[command] for k in re.findall(r"\{(\w+)\}", a)})


def assert_one_line(res, *, codes=(1, 2), where: str = "") -> None:
    """No traceback, a documented non-zero exit, the refusal in ONE stderr line."""
    text = res.stdout + res.stderr
    assert "Traceback" not in text, where + "\n" + text
    assert not (res.exception and not isinstance(res.exception, SystemExit)), (
        where + f"\n{res.exception!r}\n" + text)
    assert res.exit_code in codes, f"{where}: exit {res.exit_code}\n{text}"
    errors = [line for line in res.stderr.splitlines() if line.startswith("error")]
    assert len(errors) <= 1, where + "\n" + res.stderr


# ----------------------------------------------------------------- no real data needed


def test_every_command_has_a_contract():
    assert set(commands()) == set(TEMPLATES), (
        "add the new command to TEMPLATES in tests/test_cli_contract.py")


def test_global_flags_are_hoisted_before_the_command():
    assert hoist_global_flags(["build", "in", "--out", "o", "-q"]) == [
        "-q", "build", "in", "--out", "o"]
    assert hoist_global_flags(["-v", "scan", "x", "-qv", "--", "-q"]) == [
        "-qv", "-v", "scan", "x", "--", "-q"]
    assert hoist_global_flags(["--version"]) == ["--version"]


@pytest.mark.parametrize("command", sorted(TEMPLATES))
def test_missing_paths_exit_2_with_one_line_and_flags_after_the_command(command, tmp_path):
    paths: dict[str, Path | str] = {k: tmp_path / "nope" / k.lower() for k in INPUT_KINDS}
    paths.update(OUT=tmp_path / "out", CACHE=tmp_path / "cache")
    args = fill(TEMPLATES[command], paths)
    if command == "doctor":  # no path: its own checks; -q/-v after it are still global flags
        res = run(command, "--json", "-q")
        assert res.exit_code in (0, 1) and "Traceback" not in res.output
        assert json.loads(res.stdout)
        return
    for flags in (["-q"], ["-v"], ["-qv"]):
        res = run(command, *args, *flags)
        assert_one_line(res, codes=(2,), where=f"{command} {flags}")
        assert "not found" in res.stderr, res.stderr
        assert "No such option" not in res.output
    assert not (tmp_path / "out").exists()  # nothing created for a refused command
    res = run(command, *args, "--version")
    assert res.exit_code == 0 and __version__ in res.stdout


def _numeric_options(command: str) -> list[tuple[str, str]]:
    """``(option, "int" | "float")`` for every numeric option of ``command``."""
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    out = []
    for p in cmd.params:
        ann = p.type_descriptor.annotation
        types = set(typing.get_args(ann)) - {type(None)} if typing.get_args(ann) else {ann}
        if p.param_type_name == "option" and types in ({int}, {float}):
            out.append((max(p.opts, key=len), "int" if types == {int} else "float"))
    return out


NUMERIC = [(c, o, k) for c in sorted(TEMPLATES) for o, k in _numeric_options(c)]
#: Comma lists and rates typed as text.
TEXT_NUMERIC = [("build", "--split-ratios", 3), ("build", "--context-s", 2),
                ("build", "--fps", 1), ("capture", "--rate-hz", 1)]

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -1.0, 1e300, -1e300, 1e-300, 1e308, 1e18, 5.0]))
INTEGERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                     st.sampled_from([0, -1, 1, 10**12, 2**63]))


#: tmp_path is shared by the examples of one test: every example is refused, writes nothing.
REUSED_TMP = [HealthCheck.function_scoped_fixture]


def test_every_numeric_option_is_listed():
    assert NUMERIC, "no numeric option found: the enumeration broke"
    names = {(c, o) for c, o, _ in NUMERIC}
    assert ("train", "--steps") in names and ("capture-evidence", "--fps") in names


def _check_value(command: str, option: str, value: str, tmp_path: Path) -> None:
    paths: dict[str, Path | str] = {k: tmp_path / "nope" / k.lower() for k in INPUT_KINDS}
    paths.update(OUT=tmp_path / "out", CACHE=tmp_path / "cache")
    args = fill(TEMPLATES[command], paths)
    res = run(command, *args, option, value)
    where = f"{command} {option} {value}"
    assert_one_line(res, codes=(2,), where=where)
    # either the value is refused naming its option, or it passes and the path is not found
    assert option in res.output or "not found" in res.stderr, where + "\n" + res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("command", "option", "kind"), NUMERIC)
@settings(max_examples=4, deadline=None, suppress_health_check=REUSED_TMP)
@given(data=st.data())
def test_numeric_options_are_range_checked(command, option, kind, data, tmp_path):
    value = data.draw(INTEGERS if kind == "int" else NUMBERS)
    text = str(value) if kind == "int" else repr(value)
    _check_value(command, option, text, tmp_path)
    if kind == "float" and not math.isfinite(value):
        res = run(command, *fill(TEMPLATES[command], {k: tmp_path / "nope" for k in
                                                     (*INPUT_KINDS, "OUT", "CACHE")}),
                  option, text)
        assert option in res.output  # a non-finite value is always refused by name


@pytest.mark.parametrize(("command", "option", "kind"), NUMERIC)
def test_numeric_options_refuse_the_edge_values_by_name(command, option, kind, tmp_path):
    """The edge values every option meets, always (hypothesis adds random ones above)."""
    edges = ["-1", str(2**63)] if kind == "int" else ["nan", "inf", "-1e300", "1e300"]
    for value in edges:
        paths: dict[str, Path | str] = {k: tmp_path / "nope" for k in INPUT_KINDS}
        paths.update(OUT=tmp_path / "out", CACHE=tmp_path / "cache")
        res = run(command, *fill(TEMPLATES[command], paths), option, value)
        assert_one_line(res, codes=(2,), where=f"{command} {option} {value}")
        if value in ("nan", "inf", str(2**63), "1e300", "-1e300"):
            assert option in res.output, f"{command} {option} {value}: {res.output}"


@pytest.mark.parametrize(("command", "option", "n"), TEXT_NUMERIC)
@settings(max_examples=10, deadline=None, suppress_health_check=REUSED_TMP)
@given(data=st.data())
def test_numeric_text_options_are_range_checked(command, option, n, data, tmp_path):
    values = data.draw(st.lists(NUMBERS, min_size=n, max_size=n))
    _check_value(command, option, ",".join(repr(v) for v in values), tmp_path)


def test_issue_values_are_refused_up_front_naming_the_option(tmp_path):
    """The values of issue 21 item 5, refused before any input is read."""
    (tmp_path / "empty").mkdir()
    for command, option, value in (("build", "--split-ratios", "nan,0.5,0.5"),
                                   ("build", "--max-gap-s", "-1"),
                                   ("capture-evidence", "--fps", "0"),
                                   ("train", "--steps", "0"), ("train", "--steps", "-1"),
                                   ("train", "--device", "tpu"), ("generate", "--steps", "0")):
        paths = {k: tmp_path / "empty" for k in INPUT_KINDS}
        paths.update(OUT=tmp_path / "out", CACHE=tmp_path / "cache")
        res = run(command, *fill(TEMPLATES[command], paths), option, value)
        assert_one_line(res, codes=(2,), where=f"{command} {option} {value}")
        assert option in res.stderr or option in res.output
        assert not (tmp_path / "out").exists()


def test_last_resort_is_one_line_naming_the_command(monkeypatch, tmp_path):
    """An unexpected exception anywhere: one line naming the command; -v adds the trace."""
    import motionpair.build.scan as scan_mod

    def boom(*a, **k):
        raise RuntimeError("unexpected\nacross lines")

    monkeypatch.setattr(scan_mod, "scan", boom)
    res = run("scan", tmp_path)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.strip().splitlines() == [
        "error: motionpair scan: RuntimeError: unexpected across lines (-v shows the traceback)"]
    res = run("scan", tmp_path, "-v")
    assert res.exit_code == 1 and "Traceback" in res.stderr


def test_library_warnings_only_with_verbose(monkeypatch, tmp_path):
    import warnings

    import motionpair.build.scan as scan_mod

    real = scan_mod.scan

    def noisy(*a, **k):
        warnings.warn("sqrtm: -102\nsecond line", RuntimeWarning, stacklevel=1)
        return real(*a, **k)

    monkeypatch.setattr(scan_mod, "scan", noisy)
    res = run("scan", tmp_path)
    assert res.exit_code == 0 and "sqrtm" not in res.output
    res = run("scan", tmp_path, "-v")
    assert "warning: RuntimeWarning: sqrtm: -102 second line" in res.stderr


# ----------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def world(tang_dir, tmp_path_factory, cache_dir):
    """A real 3-session build, a real tiny run, a derived MotionMix capture, and every
    broken variant of each (tests/badinputs.py)."""
    from derived_capture import make_capture
    from realsubset import real_subset

    base = tmp_path_factory.mktemp("contract")
    inputs = real_subset(tang_dir, base / "in", writable=False)
    ds = base / "ds"
    res = run("build", inputs, "--out", ds, "--cache", cache_dir, "--workers", "1")
    assert res.exit_code == 0, res.output
    run_dir = base / "run"
    res = run("train", ds, "--out", run_dir, *TINY_TRAIN)
    assert res.exit_code == 0, res.output
    cap = make_capture(tang_dir, base / "cap", sessions=(BASE,)).root
    audiodir = base / "audiodir"
    audiodir.mkdir()
    (audiodir / "track.mp3").symlink_to(tang_dir / BASE / "audio.mp3")
    good = {"INPUT": inputs, "DATASET": ds, "RUN": run_dir,
            "AUDIO": tang_dir / BASE / "audio.mp3", "AUDIODIR": audiodir,
            "VIDEO": video if (video := tang_dir.parent / "video" / "dancer.avi").is_file()
            else None, "SESSION": next((cap / "sessions").iterdir()),
            "CAPROOT": cap, "CACHE": cache_dir}
    common = {"missing": base / "missing", "empty_dir": base / "empty",
              "file": base / "a-file.json"}
    common["empty_dir"].mkdir()
    shutil.copyfile(tang_dir / BASE / "config.json", common["file"])
    broken = {k: dict(common) for k in INPUT_KINDS}
    broken["DATASET"].update(dataset_variants(ds, base, tang_dir))
    broken["RUN"].update(run_variants(run_dir, base))
    broken["AUDIO"].update(audio_variants(tang_dir, base))
    audio_bad = base / "audiodir-bad"
    shutil.copytree(base / "audio", audio_bad)
    broken["AUDIODIR"]["broken_files"] = audio_bad
    broken["OUT"] = {"readonly": readonly_dir(base) / "out", "file": common["file"],
                     "under_a_file": common["file"] / "out"}
    return {"base": base, "good": good, "broken": broken, "ds": ds, "run": run_dir,
            "inputs": inputs, "cap": cap}


def _cases() -> list[tuple[str, str, str]]:
    names = {"DATASET": ["missing", "empty_dir", "file", "input_folder", "list_json",
                         "truncated_json", "empty_manifest", "truncated_shard",
                         "symlinked_shard", "pickled_shard", "row_1e12", "row_minus_1"],
             "RUN": ["missing", "empty_dir", "file", "truncated_model",
                     "truncated_checkpoints", "not_a_run"],
             "AUDIO": ["missing", "empty_dir", "file", "empty", "cut_header", "not_audio",
                       "folder"],
             "AUDIODIR": ["missing", "empty_dir", "file", "broken_files"],
             "OUT": ["readonly", "file", "under_a_file"]}
    out = []
    for command in sorted(TEMPLATES):
        for kind in kinds_of(command):
            for v in names.get(kind, ["missing", "empty_dir", "file"] if kind in INPUT_KINDS
                               else []):
                out.append((command, kind, v))
    return out


#: (kind, variant) whose command may legitimately succeed: scan reports bad inputs and exits
#: 0; an empty folder holds nothing to scan; a dataset with a row index the
#: loader never reads (verify must catch it, the others refuse it).
MAY_SUCCEED = {("scan", "INPUT", "empty_dir"), ("doctor", "", "")}


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(("command", "kind", "variant"), _cases())
def test_every_command_on_every_broken_input(world, command, kind, variant, tmp_path):
    if kind == "VIDEO" or (command.startswith("capture") and world["good"]["VIDEO"] is None):
        pytest.importorskip("av")
    paths: dict[str, Path | str] = dict(world["good"])
    paths["OUT"] = tmp_path / "out"
    paths[kind] = world["broken"][kind][variant]
    if paths.get("VIDEO") is None:
        pytest.skip("real video not found (set MOTIONPAIR_DATA)")
    args = fill(TEMPLATES[command], paths)
    res = run(command, *args)
    where = f"{command} {kind}={variant}"
    codes = (0, 1, 2) if (command, kind, variant) in MAY_SUCCEED else (1, 2)
    if command == "scan":
        codes = (0, 2)  # scan reports bad inputs and exits 0; a path not found is 2
    assert_one_line(res, codes=codes, where=where)
    assert LAST_RESORT not in res.stderr, where + ": reached the last resort\n" + res.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_train_resume_on_truncated_checkpoint(world, tmp_path):
    run_dir = shutil.copytree(world["broken"]["RUN"]["truncated_checkpoints"], tmp_path / "r")
    res = run("train", world["ds"], "--out", run_dir, "--resume", *TINY_TRAIN)
    assert_one_line(res, where="train --resume on truncated last.pt")
    assert LAST_RESORT not in res.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_train_refusals_leave_nothing_behind(world, tmp_path):
    for args in (["--steps", "0"], ["--steps", "-1"], ["--device", "tpu"]):
        res = run("train", world["ds"], "--out", tmp_path / "r0", *TINY_TRAIN, *args)
        assert_one_line(res, codes=(2,), where=f"train {args}")
        assert not (tmp_path / "r0").exists()
    res = run("train", world["inputs"], "--out", tmp_path / "r0", *TINY_TRAIN)
    assert_one_line(res, codes=(2,), where="train on an input folder")
    assert "not a motionpair dataset" in res.stderr and not (tmp_path / "r0").exists()
    # then the same folder trains: no "already holds a run" from a refused attempt
    res = run("train", world["ds"], "--out", tmp_path / "r0", *TINY_TRAIN)
    assert res.exit_code == 0, res.output


@pytest.mark.realdata
@pytest.mark.slow
def test_train_wrote_line_is_never_broken(world, tmp_path):
    out = tmp_path / ("a-long-run-folder-name-" * 5) / "r1"
    res = run("train", world["ds"], "--out", out, *TINY_TRAIN)
    assert res.exit_code == 0, res.output
    line = next(line for line in res.stdout.splitlines() if "wrote" in line)
    assert f"wrote {out / 'model.pt'}" in line


def _val_anywhere(obj, where: str = "") -> list[str]:
    """Where the stored split name ``val`` shows as a key or a value."""
    if isinstance(obj, dict):
        return [where + "/" + k for k in obj if k == "val"] + [
            w for k, v in obj.items() for w in _val_anywhere(v, where + "/" + k)]
    if isinstance(obj, list):
        return [w for i, v in enumerate(obj) for w in _val_anywhere(v, f"{where}[{i}]")]
    return [where] if obj == "val" else []


@pytest.mark.realdata
@pytest.mark.slow
def test_json_outputs_are_json_with_validation(world, tmp_path):
    ds = world["ds"]
    for args in (["verify", ds], ["scan", world["inputs"]],
                 ["export-shards", ds, "--format", "webdataset", "--out", tmp_path / "wds"]):
        res = run(*args, "--json", "-", "-q")
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        doc.pop("split_names", None)  # export's map of published -> stored names
        assert not _val_anywhere(doc), (args[0], _val_anywhere(doc))
    res = run("verify", ds)
    assert res.stdout.startswith(f"ok: {ds}: ") and "{" not in res.stdout
    assert "validation" in res.stdout
    res = run("verify", world["inputs"], "--json", "-")
    assert res.exit_code == 2 and json.loads(res.stdout)["ok"] is False


@pytest.mark.realdata
@pytest.mark.slow
def test_quiet_still_prints_one_line_per_input_problem(world, tang_dir, tmp_path, cache_dir):
    from badinputs import copy_folder

    root = tmp_path / "in"
    copy_folder(tang_dir / BASE, root / BASE)
    for name in ("DANCE_W_101", "DANCE_W_102"):  # two broken copies of the real folder
        copy_folder(tang_dir / BASE, root / name)
        (root / name / "skeletons.json").write_text("")
    res = run("build", root, "--out", tmp_path / "o", "--cache", cache_dir, "--workers", "1",
              "-q", "--split-by", "time-block")
    problems = [line for line in res.stderr.splitlines() if "empty file" in line]
    assert len(problems) == 2, res.output
    assert all(len(line) < 1000 for line in res.output.splitlines())


@pytest.mark.realdata
@pytest.mark.slow
def test_scan_table_cells_never_exceed_200_characters(world, tang_dir, tmp_path):
    from badinputs import copy_folder

    root = tmp_path / "in"
    copy_folder(tang_dir / BASE, root / BASE)
    (root / BASE / "audio.mp3").write_bytes(b"")
    res = run("scan", root)
    assert res.exit_code == 0
    for line in res.stdout.splitlines():
        for cell in line.split("│"):
            assert len(cell) <= 202, line


@pytest.mark.realdata
@pytest.mark.slow
def test_non_utf8_paths_pair_and_publish(world, tang_dir, tmp_path, cache_dir):
    """A good pair in a folder whose name holds non-UTF-8 bytes is paired, and --out with
    such bytes publishes (or is refused in one line), never a UnicodeEncodeError."""
    from badinputs import copy_folder

    root = tmp_path / NON_UTF8
    copy_folder(tang_dir / BASE, root / BASE)
    res = run("scan", root, "--json", "-")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["totals"]["paired"] == 1, res.output
    out = tmp_path / ("out-" + NON_UTF8)
    res = run("build", root, "--out", out, "--cache", cache_dir, "--workers", "1",
              "--split-by", "time-block")
    assert "Traceback" not in res.output and LAST_RESORT not in res.stderr, res.output
    assert res.exit_code in (0, 2), res.output
    cap = tmp_path / ("cap-" + NON_UTF8)
    shutil.copytree(world["cap"], cap, symlinks=True)
    res = run("scan", cap)
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    assert LAST_RESORT not in res.stderr, res.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_align_names_the_session_of_every_row(world, cache_dir):
    res = run("align", world["cap"], "--cache", cache_dir, "--json", "-")
    assert res.exit_code in (0, 1), res.output
    if res.exit_code == 0:
        doc = json.loads(res.stdout)
        for part in ("pairs", "sparse_pairs"):
            for rec in doc.get(part, {}).values():
                assert rec.get("session"), rec.keys()
        assert "session" in res.stderr  # the table (on stderr with --json -) has the column


@pytest.mark.realdata
@pytest.mark.slow
def test_align_on_a_list_dataset_json(world):
    res = run("align", world["broken"]["DATASET"]["list_json"])
    assert_one_line(res, codes=(2,), where="align list dataset.json")
    assert "dataset.json" in res.stderr



@pytest.mark.realdata
@pytest.mark.slow
def test_snapshot_symlink_through_a_mapped_folder_is_refused(world, tmp_path):
    """``files.snapshots`` naming a folder that holds a symlink to a file outside the session
    is refused exactly as a direct symlink is (derived from the real capture)."""
    from motionpair.build.scan import scan

    reasons = {}
    for how in ("direct", "through_folder"):
        cap = shutil.copytree(world["cap"], tmp_path / how, symlinks=True)
        sess = next((cap / "sessions").iterdir())
        outside = tmp_path / f"{how}-outside.jsonl"
        (sess / "snapshots.jsonl").rename(outside)
        if how == "direct":
            (sess / "snaps.jsonl").symlink_to(outside)
            target = "snaps.jsonl"
        else:
            (sess / "data").mkdir()
            (sess / "data" / "snaps.jsonl").symlink_to(outside)
            target = "data"
        (sess / "motionmix-mapping.json").write_text(json.dumps({"files": {"snapshots":
                                                                           target}}))
        inv = scan([cap])
        assert not inv.pairs, how
        reasons[how] = " ".join(p.reason for p in inv.problems)
        assert "rejected" in reasons[how] and "files.snapshots" in reasons[how], reasons[how]


#: Input fields of the derived capture, each set to a drawn value: (file, key path).
FIELDS = [("manifest", "sr"), ("manifest", "tracks.0.duration_s"), ("npz", "sr"),
          ("npz", "duration_s"), ("metadata", "camera_offsets_s.cam1")]


def _set_field(cap: Path, where: str, key: str, value) -> str:
    import numpy as np

    pl = cap / "audio" / "playlist-01"
    if where == "npz":
        f = next(pl.glob("*.npz"))
        with np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays[key] = np.array(value)
        f.unlink()
        np.savez(f, **arrays)
        return key
    f = pl / "manifest.json" if where == "manifest" else (
        next((cap / "sessions").iterdir()) / "metadata.json")
    doc = json.loads(f.read_text())
    node = doc
    parts = key.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[parts[-1]] = value
    f.write_text(json.dumps(doc))
    return parts[-1]


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(("where", "key"), FIELDS)
@settings(max_examples=8, deadline=None, suppress_health_check=REUSED_TMP)
@given(value=st.one_of(st.sampled_from([1e308, 10**18, -1e300, 0, -1]),
                       st.floats(allow_nan=False, allow_infinity=False)))
def test_numeric_input_fields_are_range_checked_naming_the_key(world, where, key, value,
                                                               tmp_path_factory):
    """Absurd finite values of input fields (issue 21: camera offset 1e300, duration_s
    1e308, NPZ sr 1e18): never a traceback; an implausible value is reported naming its key."""
    from motionpair.build.scan import scan

    cap = shutil.copytree(world["cap"], tmp_path_factory.mktemp("field") / "cap",
                          symlinks=True)
    name = _set_field(cap, where, key, value)
    inv = scan([cap])
    plausible = {"sr": lambda v: 1000 <= v <= 384_000 and v == int(v),
                 "duration_s": lambda v: 0 < v <= 172_800,
                 "cam1": lambda v: -86_400 <= v <= 86_400}[name]
    text = " ".join(p.reason for p in inv.problems)
    if not plausible(value):
        assert name in text, (where, key, value, text)
