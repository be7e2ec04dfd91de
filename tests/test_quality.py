"""Code quality gates run by the test command (so by CI): lint, format, types, a light import.

``ruff check``, ``ruff format --check`` and ``basedpyright`` (configured in pyproject.toml)
must pass on the repository; a failure prints the tool's report. The tools come with the
``test`` extra (``pip install -e .[test]``, what ``scripts/test.sh`` installs). Where one is
missing the check is skipped with the reason, except under CI (``CI`` set), where it fails.

``import twoqs_jax`` must load none of the optional libraries (qutip, matplotlib, h5py, tqdm,
xarray); each loads on first use, and a missing one raises an error naming its extra.
"""

import importlib.metadata
import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).parents[1]
OPTIONAL = ("qutip", "matplotlib", "h5py", "tqdm", "xarray")


def _require_tool(module):
    if importlib.util.find_spec(module) is None:
        message = (
            f"{module} is not installed (it comes with the test extra: pip install -e .[test])"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _run(args, timeout=600):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def _report(proc):
    return f"exit {proc.returncode}\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"


def test_ruff_check_passes():
    _require_tool("ruff")
    proc = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "."])
    assert proc.returncode == 0, "ruff check found violations:\n" + _report(proc)


def test_ruff_format_is_clean():
    _require_tool("ruff")
    proc = _run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."])
    assert proc.returncode == 0, "files not formatted (run `ruff format .`):\n" + _report(proc)


def test_type_check_passes():
    _require_tool("basedpyright")
    proc = _run([sys.executable, "-m", "basedpyright", "--pythonpath", sys.executable])
    assert proc.returncode == 0, "basedpyright (settings in pyproject.toml):\n" + _report(proc)
    assert "0 errors" in proc.stdout, _report(proc)


def test_package_is_typed():
    assert (ROOT / "twoqs_jax" / "py.typed").is_file()


def _python(code):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_import_loads_no_optional_library():
    proc = _python(
        f"""
        import sys
        import twoqs_jax
        print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"import twoqs_jax loaded {proc.stdout.strip()}"


@pytest.mark.parametrize(
    ("blocked", "extra", "call"),
    [
        ("qutip", "exact", "tq.exact"),
        ("qutip", "exact", "tq.solve(tq.driven_spin(2, 1.0), None, tq.SteadyState(), tq.Exact())"),
        # an existing file: a missing one is refused before the library is needed
        ("h5py", "io", "tq.load(__import__('tempfile').mkstemp(suffix='.h5')[1])"),
        ("matplotlib", "plot", "tq.plot.time_trace(None, 'Sz')"),
    ],
)
def test_missing_optional_library_names_its_extra(blocked, extra, call):
    # sys.modules[name] = None makes `import name` raise ImportError, as if not installed.
    proc = _python(
        f"""
        import sys
        sys.modules[{blocked!r}] = None
        import twoqs_jax as tq
        try:
            {call}
        except ImportError as err:
            print(err)
        else:
            print("no error")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert f"pip install 'twoqs_jax[{extra}]'" in proc.stdout, proc.stdout
    assert blocked in proc.stdout, proc.stdout


def test_import_is_light_and_names_load_on_first_use():
    # `import twoqs_jax` imports no JAX (the command line checks a config first); every public
    # name loads its module on first access
    proc = _python(
        """
        import sys
        import twoqs_jax
        print(sorted(m for m in ("jax", "numpy", "equinox", "diffrax") if m in sys.modules))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"import twoqs_jax loaded {proc.stdout.strip()}"


def test_lazy_table_matches_the_type_checking_imports():
    import ast

    import twoqs_jax

    tree = ast.parse((ROOT / "twoqs_jax" / "__init__.py").read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    imported = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names:
            assert alias.asname == alias.name  # re-exported under its own name
            imported[alias.name] = node.module or alias.name
    assert imported == twoqs_jax._LAZY
    for name, module in imported.items():
        obj = getattr(twoqs_jax, name)
        mod = importlib.import_module(f"twoqs_jax.{module}")
        assert obj is (mod if module == name else getattr(mod, name)), name
    assert set(twoqs_jax._LAZY) <= set(dir(twoqs_jax))


def test_version_comes_from_package_metadata():
    import twoqs_jax

    assert twoqs_jax.__version__ == importlib.metadata.version("twoqs_jax")
    # written once: pyproject.toml holds the only version literal
    assert "__version__ = _metadata.version" in (ROOT / "twoqs_jax" / "__init__.py").read_text()
