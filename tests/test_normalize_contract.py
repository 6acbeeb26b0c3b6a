"""The batch contract (normalize/contract.py) is the one definition of the NormalizedBatch frames:
the normaliser's frames have exactly its columns, the warehouse tables have them with the same
types, and the module imports nothing (the warehouse may import it without the normaliser, and
the ingest's main process unpickles the parse workers' batches without it)."""
import ast
import pickle
import subprocess
import sys
from pathlib import Path

from maglabels.normalize import contract
from maglabels.normalize.batch import normalize_labels
from maglabels.warehouse import db

from tests.realdata import MAGNESIUM_IDS, dsld_label, flat_label

SOURCE = Path(contract.__file__).read_text(encoding="utf-8")


def test_contract_imports_no_logic():
    imported = [n for n in ast.walk(ast.parse(SOURCE)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {getattr(n, "module", None) for n in imported} <= {"__future__", "dataclasses", "typing", None}
    assert [alias.name for n in imported if isinstance(n, ast.Import) for alias in n.names] == ["pandas"]  # typing only


def test_a_batch_unpickles_without_the_normaliser(tmp_path):
    batch = normalize_labels([dsld_label(i) for i in MAGNESIUM_IDS] + [flat_label("2880")])
    (tmp_path / "batch.pickle").write_bytes(pickle.dumps(batch))
    code = ("import pickle, sys; batch = pickle.load(open(sys.argv[1], 'rb')); "
            "print(len(batch.magnesium_labels), sorted(m for m in sys.modules if m.startswith(('maglabels.', 'pint'))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "batch.pickle")], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split(" ", 1)
    assert int(out[0]) == len(batch.magnesium_labels) > 0
    assert ast.literal_eval(out[1]) == ["maglabels.normalize", "maglabels.normalize.contract"]  # no interpreter, no pint


def test_normaliser_frames_follow_the_contract():
    batch = normalize_labels([dsld_label(i) for i in MAGNESIUM_IDS] + [flat_label("2880"), flat_label("3602")])
    for frame, spec in contract.FRAMES.items():
        assert list(getattr(batch, frame).columns) == [name for name, _ in spec], frame
    assert len(batch.magnesium_labels) == 8


def test_warehouse_tables_have_the_contract_columns_and_types():
    con = db.connect(":memory:")
    for frame, spec in contract.FRAMES.items():
        types = dict(con.execute(f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{frame}'"
                                 ).fetchall())
        # the table may hold more (ul_basis, serving_quantity and serving_unit stay in the frame only)
        for name, typ in spec:
            if name in types:
                assert types[name] == typ, (frame, name, types[name], typ)
        frame_only = {name for name, _ in spec} - set(types)
        assert frame_only <= {"ul_basis", "serving_quantity", "serving_unit"}, (frame, frame_only)
    con.close()
