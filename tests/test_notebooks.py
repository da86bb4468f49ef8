"The pytest shim: every notebook in `nbs/` is a test (cells flagged with a `tst_flags` flag skipped), and its saved outputs must match a fresh run."
import os, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from outputs import run_nb, skip_flags, skipped, text_of  # the runner of `make outputs`: one home for the skip rules

NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_') and p.name != 'index.ipynb')  # index: README only
# METAMATH_TEST_FLAGS="slow gpu" runs the cells carrying those flags too (e.g. on a GPU machine).
FORCE = os.environ.get('METAMATH_TEST_FLAGS', '').split()

def stale_cells(saved, fresh):
    "{cell index: (saved text, fresh text)} for the cells run by default whose saved text output differs from the fresh run's"
    flags, res = skip_flags(), {}
    for i, (s, f) in enumerate(zip(saved.cells, fresh.cells)):
        if skipped(s, flags): continue
        a, b = (''.join(map(text_of, c.get('outputs', []) or [])).strip() for c in (s, f))
        if a != b: res[i] = (a, b)
    return res

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb):
    from execnb.nbio import read_nb
    t = time.time()
    fresh, err = run_nb(nb, skip_flags(FORCE))
    print(f'{nb.name}: {time.time()-t:.1f}s')
    assert err is None, f'{nb.name} failed:\n{err}'
    stale = stale_cells(read_nb(nb), fresh)
    first = next(iter(stale.items()), None)
    assert not stale, (f'{nb.name}: the saved outputs of cells {list(stale)} differ from a fresh run (`make outputs` saves them); '
                       f'cell {first[0]} saved:\n{first[1][0][:400]}\nfresh:\n{first[1][1][:400]}' if first else '')
