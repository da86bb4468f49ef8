"The pytest shim: every notebook in `nbs/` is a test; cells flagged with a `tst_flags` flag are skipped."
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb  # renamed: pytest would collect `test_nb`

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_') and p.name != 'index.ipynb')  # index: README only
# METAMATH_TEST_FLAGS="slow gpu" runs the cells carrying those flags too (e.g. on a GPU machine).
FORCE = os.environ.get('METAMATH_TEST_FLAGS', '').split()

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb):
    skip = get_config(path=ROOT).tst_flags.split()
    ok, secs = run_nb(nb, skip_flags=skip, force_flags=FORCE, basepath=ROOT)
    print(f'{nb.name}: {secs:.1f}s')
    assert ok, f'{nb.name} failed (traceback above)'
