"""Mutation check of the core: how many small, realistic bugs the tests catch, per module.

For each module group below, every mutant (one small change to one source file: a
comparison or arithmetic operator swapped, ``and``/``or`` swapped, ``not`` or a unary
minus dropped, a number off by one, a boolean flipped, a dict entry dropped, a one-argument
call replaced by its argument, a call statement removed) is written into a copy of
``src/`` and the group's tests are run against it in a forked process (``pytest -x``, a
time limit of a few times the clean run; the project is imported afresh in each, the
slow third-party imports once). A mutant is *killed* when the tests fail.
Score = killed / mutants. Strings, docstrings and annotations are not mutated.

Not part of CI (minutes per module). Run it niced, one module at a time:

    nice -n 15 python benchmarks/mutation.py [--modules cache,atomic] [--list]
        [--sample N] [--exclude TESTS] [--results FILE] [--rerun-survivors]

``--sample N`` checks a fixed random sample of N mutants per module (the same sample on
every run) where checking them all takes too long. ``--rerun-survivors`` tests only the
survivors saved in ``--results`` by an earlier run (tests were added, none removed, so a
killed mutant stays killed) and reports the new score beside the old one. Survivors are
printed with file:line and the change, for docs/testing.md (killed by a new test, or
listed there as equivalent with the reason).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "vfx_ingest"

# Module group -> (source files under src/vfx_ingest, the tests that cover them: node ids
# of fast tests, the #19 test files first so that ``-x`` stops early).
F, M = "tests/test_core_faults.py", "tests/test_core_mutants.py"
LIB, INGEST = "tests/test_library.py::test_", "tests/test_ingest.py::test_"
DEPTH_STITCH = "tests/test_depth_stage.py::test_stitch_"
EXPORTS = "tests/test_camera_exports.py::test_"
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "cache": (["cache.py"], [F, M, INGEST + "second_run_is_cached_and_force_reruns",
        INGEST + "changed_option_or_damaged_output_reruns",
        INGEST + "status_shows_records_and_marks_stale_outputs",
        "tests/test_models_runs.py::test_other_weights_change_the_cache_key_and_rerun_the_stage"]),
    "manifest": (["manifest.py"], [M, "tests/test_library.py", "tests/test_ingest.py",
                                   "tests/test_resume.py"]),
    "atomic": (["atomic.py"], [F, M, LIB + "atomic_write_leaves_old_or_new",
                               LIB + "swap_dir_replaces_a_folder"]),
    "paths": (["paths.py"], [M, "tests/test_remote_worker.py"]),
    "digest": (["digest.py"], [M, LIB + "digest_reuse_and_verification",
        "tests/test_remote_worker.py::test_an_input_that_does_not_match_its_digest_is_refused",
        INGEST + "changed_option_or_damaged_output_reruns"]),
    "redact": (["redact.py"], [F, M, "tests/test_secrets.py"]),
    "frames": (["frames.py"], [M, LIB + "timecode_round_trip", LIB + "frame_number_reference",
        LIB + "frame_names_and_sets", LIB + "seconds_reference_rounds_to_the_nearest_frame",
        INGEST + "frame_selection_keeps_source_numbering",
        INGEST + "timecode_is_mapped_per_frame"]),
    "job": (["job.py"], [M, "tests/test_library.py", "tests/test_remote_worker.py"]),
    "depth-windows": (["depth/windows.py"], [M, "tests/test_depth_windows.py"]),
    "depth-align-stitch": (["depth/align.py", "depth/stitch.py"], [
        F, M, "tests/test_depth_windows.py", DEPTH_STITCH + "recovers_one_scale_and_cross_fades",
        DEPTH_STITCH + "refuses_chunks_that_cannot_be_joined"]),
    "camera-axes-exports": (
        ["camera/axes.py", *(f"camera/exports/{n}.py" for n in ("nuke_chan", "nuke_nk",
                                                               "nerfstudio", "usd", "ply"))],
        [F, M, EXPORTS + "usd_aperture_offsets_carry_the_principal_point",
         EXPORTS + "nk_window_translate_carries_the_principal_point",
         EXPORTS + "usd_timing_follows_a_clip_that_is_not_24_fps",
         EXPORTS + "transforms_json_lists_masks_and_depth_when_the_shot_has_them"],
    ),
}  # fmt: skip
# Tests too slow for every mutant (a camera solve each, about a minute here): run with
# --rerun-survivors only, on what the fast tests left.
SLOW: dict[str, list[str]] = {
    "camera-axes-exports": ["tests/test_camera_exports.py"],
}  # fmt: skip

_COMPARE = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_BINARY = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}  # fmt: skip
_BOOL = {ast.And: ast.Or, ast.Or: ast.And}
SEED = 19  # which mutants --sample picks: the same ones on every run


@dataclass
class Mutant:
    file: str
    index: int  # the index-th mutation site of the file, in walk order
    line: int
    change: str
    status: str = ""  # killed, survived, timeout


def _skipped(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # docstrings


class _Sites(ast.NodeTransformer):
    """Walks a module in a fixed order; counts mutation sites, or applies the target-th."""

    def __init__(self, target: int | None = None) -> None:
        self.target = target
        self.sites: list[tuple[int, str]] = []

    def _site(self, node: ast.AST, change: str) -> bool:
        """Record a site; True when it is the one to apply."""
        self.sites.append((getattr(node, "lineno", 0), change))
        return len(self.sites) - 1 == self.target

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node  # annotations

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.args = self.visit(node.args)
        node.body = self._body(node.body)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return node
        return self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        return node

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out = []
        for stmt in body:
            if _skipped(stmt):
                out.append(stmt)
                continue
            call = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            if call and self._site(stmt, f"remove `{ast.unparse(stmt)[:60]}`"):
                out.append(ast.copy_location(ast.Pass(), stmt))
                continue
            out.append(self.visit(stmt))
        return out

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = _COMPARE.get(type(op))
            if swap and self._site(node, f"{type(op).__name__} -> {swap.__name__}"):
                node.ops[i] = swap()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = _BINARY.get(type(node.op))
        if swap and self._site(node, f"{type(node.op).__name__} -> {swap.__name__}"):
            node.op = swap()
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        swap = _BINARY.get(type(node.op))
        if swap and self._site(node, f"{type(node.op).__name__}= -> {swap.__name__}="):
            node.op = swap()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        swap = _BOOL[type(node.op)]
        if self._site(node, f"{type(node.op).__name__} -> {swap.__name__}"):
            node.op = swap()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not | ast.USub) and self._site(
            node, f"drop {type(node.op).__name__}"
        ):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._site(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int | float) and self._site(node, f"{value!r} -> {value + 1!r}"):
            return ast.copy_location(ast.Constant(value + 1), node)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        if len(node.keys) < 2:
            return node
        for i, key in enumerate(list(node.keys)):
            label = ast.unparse(key) if key is not None else "**"
            if self._site(node, f"drop dict entry {label[:40]}"):
                del node.keys[i], node.values[i]
                break
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if (
            len(node.args) == 1
            and not node.keywords
            and not isinstance(node.args[0], ast.Starred)
            and isinstance(node.func, ast.Name | ast.Attribute)
        ):
            name = ast.unparse(node.func)
            if self._site(node, f"{name}(x) -> x"):
                return node.args[0]
        return node


def mutants_of(file: str) -> tuple[str, list[Mutant]]:
    source = (PACKAGE / file).read_text()
    sites = _Sites()
    sites.visit(ast.parse(source))
    return source, [Mutant(file, i, line, change) for i, (line, change) in enumerate(sites.sites)]


def mutated(source: str, index: int) -> str:
    tree = _Sites(index).visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(tests: list[str], src: Path, timeout: float) -> str:
    """Run ``tests`` against the sources in ``src`` in a forked child: the heavy
    third-party modules are imported once in this process, the project's modules fresh in
    each child (none is imported here)."""
    pid = os.fork()
    if pid == 0:  # the child: the mutated sources first on the path; quiet
        try:
            import pytest

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.path.insert(0, str(src))
            # Processes the tests start (workers, containers) import the mutant too.
            paths = [str(src), os.environ.get("PYTHONPATH", "")]
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
            os.chdir(REPO)
            args = ["-x", "-q", "-p", "no:cacheprovider", *tests]
            os._exit(int(pytest.main(args)))
        finally:
            os._exit(99)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "timeout"


def preload() -> None:
    """Import what the tests import that is slow to import (never the project itself)."""
    import importlib

    for name in ("numpy", "pydantic", "typer", "rich", "pytest", "hypothesis", "av", "torch",
                 "pycolmap", "pxr.Usd", "OpenEXR", "httpx", "boto3", "moto"):  # fmt: skip
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def check_module(
    name: str, only: set[tuple[str, int]] | None, exclude: list[str], sample: int | None = None
) -> tuple[list[Mutant], float]:
    files, tests = MODULES[name]
    if only is not None:
        tests = [*tests, *SLOW.get(name, [])]
    tests = [t for t in tests if t not in exclude and (REPO / t.split("::")[0]).exists()]
    if not tests:
        raise SystemExit(f"{name}: no tests left to run")
    with tempfile.TemporaryDirectory(prefix="vfx-mutation-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(PACKAGE, src / "vfx_ingest", ignore=shutil.ignore_patterns("__pycache__"))
        # The clean run: the tests must pass on the unparsed (unmutated) sources too.
        for file in files:
            (src / "vfx_ingest" / file).write_text(mutated((PACKAGE / file).read_text(), -1))
        start = time.monotonic()
        if run_tests(tests, src, 1800) != "survived":
            raise SystemExit(f"{name}: the tests fail on the unmutated sources")
        clean_s = time.monotonic() - start
        everything = {file: mutants_of(file) for file in files}
        chosen = {(m.file, m.index) for _, ms in everything.values() for m in ms}
        if only is not None:
            chosen &= only
        if sample is not None and len(chosen) > sample:
            chosen = set(random.Random(SEED).sample(sorted(chosen), sample))
        results = []
        for file, (source, mutants) in everything.items():
            target = src / "vfx_ingest" / file
            for mutant in mutants:
                if (mutant.file, mutant.index) not in chosen:
                    continue
                target.write_text(mutated(source, mutant.index))
                mutant.status = run_tests(tests, src, max(30.0, 3 * clean_s))
                results.append(mutant)
            target.write_text(mutated(source, -1))
    return results, clean_s


def score(mutants: list[Mutant]) -> str:
    killed = sum(m.status != "survived" for m in mutants)
    return f"{killed}/{len(mutants)} = {100 * killed / max(len(mutants), 1):.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default=",".join(MODULES))
    parser.add_argument("--list", action="store_true", help="count the mutants, run nothing")
    parser.add_argument(
        "--results", type=Path, default=REPO / "benchmarks" / ".cache" / "mutation.json"
    )
    parser.add_argument("--rerun-survivors", action="store_true")
    parser.add_argument(
        "--exclude", default="", help="test files to leave out (for the 'before' figure)"
    )
    parser.add_argument(
        "--sample", type=int, help="check only this many mutants per module (a fixed sample)"
    )
    args = parser.parse_args()
    if not args.list:
        preload()
    saved = json.loads(args.results.read_text()) if args.results.exists() else {}
    for name in args.modules.split(","):
        files, tests = MODULES[name]
        if args.list:
            counts = {f: len(mutants_of(f)[1]) for f in files}
            print(f"{name}: {sum(counts.values())} mutants {counts}; tests {' '.join(tests)}")
            continue
        before = [Mutant(**m) for m in saved.get(name, {}).get("mutants", [])]
        only = None
        if args.rerun_survivors:
            only = {(m.file, m.index) for m in before if m.status == "survived"}
        start = time.monotonic()
        results, clean_s = check_module(name, only, args.exclude.split(","), args.sample)
        if args.rerun_survivors:
            rerun = {(m.file, m.index): m for m in results}
            results = [rerun.get((m.file, m.index), m) for m in before]
            print(f"{name}: before {score(before)}", end="; ")
        print(
            f"{name}: {score(results)} killed ({time.monotonic() - start:.0f} s, "
            f"clean test run {clean_s:.1f} s)"
        )
        for m in results:
            if m.status == "survived":
                print(f"  survived  {m.file}:{m.line}  {m.change}")
        saved[name] = {"mutants": [asdict(m) for m in results], "tests": tests}
        args.results.write_text(json.dumps(saved, indent=1))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
