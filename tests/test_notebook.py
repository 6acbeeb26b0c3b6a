"""The analyst notebook (notebooks/brand_comparison.ipynb).

* It runs top to bottom with nbclient on the offline demo (the test session's one build) and draws
  its plots (image/png outputs).
* It also runs on an empty warehouse (every view empty) without an error.
* The committed file has no outputs and no execution counts.

The kernel: a private ``python3`` kernelspec written by ipykernel for *this* interpreter
(``sys.executable``) into a temporary ``JUPYTER_PATH``. That works on a clean machine where only
``pip install -e .[dev]`` ran (no ``ipykernel install`` needed), and a stale user-level ``python3``
kernelspec pointing at another Python (without maglabels) cannot hijack the test.
"""
from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.realdata import offline_warehouse

nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "brand_comparison.ipynb"
TIMEOUT = 300  # seconds per cell
KERNEL_NAME = "python3"
MIN_PLOTS = 4  # (a) doses by form, (b) brand medians, (c) flags, (d) share within by form
PNG_OUT = Path(os.environ["MAGLABELS_NOTEBOOK_PNG_DIR"]) if os.environ.get("MAGLABELS_NOTEBOOK_PNG_DIR") else None


@pytest.fixture()
def kernel_env(tmp_path, monkeypatch):
    """A python3 kernelspec for sys.executable, found first via JUPYTER_PATH; no MAGLABELS_* leaks."""
    jupyter_dir = tmp_path / "jupyter"
    kernelspec.write_kernel_spec(jupyter_dir / "kernels" / KERNEL_NAME)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the notebook switches to inline itself
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mplconfig"))
    for var in ("MAGLABELS_DB", "MAGLABELS_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def run_notebook(workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name=KERNEL_NAME,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},  # the kernel's working directory
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def outputs(nb: nbformat.NotebookNode):
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                yield index, out


def stream_text(nb: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(o.get("text", "") for _, o in outputs(nb)
                   if o.output_type == "stream" and o.get("name") == name)


def assert_no_errors(nb: nbformat.NotebookNode) -> None:
    errors = [(i, o.get("ename"), o.get("evalue")) for i, o in outputs(nb) if o.output_type == "error"]
    assert not errors, errors
    assert "Traceback" not in stream_text(nb, "stderr")


def png_count(nb: nbformat.NotebookNode) -> int:
    return sum(1 for _, o in outputs(nb)
               if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {}))


def test_notebook_on_the_offline_demo_plots(kernel_env, monkeypatch):
    # The session's one offline build (copied: the notebook may not share the file with other tests).
    # The notebook's own "build it if missing" cell runs the same `maglabels run --offline`; not
    # repeated here, because that build takes a minute or more on the 12,425-label demo.
    db = kernel_env / "demo.duckdb"
    shutil.copy(offline_warehouse(), db)
    monkeypatch.setenv("MAGLABELS_DB", str(db))
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(kernel_env / "data"))

    nb = run_notebook(kernel_env)

    assert_no_errors(nb)
    text = stream_text(nb)
    assert "building it offline" not in text
    assert "9115 products on the market with magnesium (12410 current label versions in all)" in text
    assert "9107 of 9115 products (99.9%): the daily dose is ASSUMED" in text
    assert "reformulations: 0 row(s)" in text
    assert "forms with < 5 products hidden" in text or png_count(nb) >= MIN_PLOTS
    assert png_count(nb) >= MIN_PLOTS
    if PNG_OUT:  # for looking at the plots by eye
        for i, (_, out) in enumerate(o for o in outputs(nb) if "image/png" in o[1].get("data", {})):
            (PNG_OUT / f"plot{i}.png").write_bytes(base64.b64decode(out["data"]["image/png"]))
    nbformat.validate(nb)


def test_notebook_runs_on_an_empty_warehouse(kernel_env, monkeypatch):
    from maglabels.warehouse import db as wdb

    db = kernel_env / "empty.duckdb"
    wdb.connect(db).close()  # schema and views, no rows
    monkeypatch.setenv("MAGLABELS_DB", str(db))
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(kernel_env / "data"))

    nb = run_notebook(kernel_env)

    assert_no_errors(nb)
    text = stream_text(nb)
    assert "building it offline" not in text
    assert "0 products on the market with magnesium" in text
    assert "nothing to plot" in text
    assert not (kernel_env / "data").exists()


def test_committed_notebook_has_cleared_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL_NAME
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"code cells {dirty} carry outputs or execution counts: clear them before committing"
    # no attachments or widget state smuggled in either
    assert "widgets" not in nb.metadata
    assert not any(cell.get("attachments") for cell in nb.cells)
