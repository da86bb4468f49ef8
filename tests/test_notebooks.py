"The pytest shim: every notebook in `nbs/` is a test (cells flagged with a `tst_flags` flag skipped), and its saved outputs must match a fresh run."
import os, re, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from outputs import run_nb, skip_flags, skipped, text_of  # the runner of `make outputs`: one home for the skip rules

NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_') and p.name != 'index.ipynb')  # index: README only
# METAMATH_TEST_FLAGS="slow gpu" runs the cells carrying those flags too (e.g. on a GPU machine).
FORCE = os.environ.get('METAMATH_TEST_FLAGS', '').split()

NUM = re.compile(r'-?\d+(?:\.\d+)?(?:e-?\d+)?')

def same_text(a:str, b:str, rel:float=0.02)->bool:
    "Equal but for numbers within `rel` (or 0.01) of each other: float noise from another CPU's kernels is not a stale output"
    if NUM.split(a) != NUM.split(b): return False
    x, y = NUM.findall(a), NUM.findall(b)
    return len(x) == len(y) and all(u == v or abs(float(u) - float(v)) <= max(0.01, rel * abs(float(v))) for u,v in zip(x, y))

def stale_cells(saved, fresh):
    "{cell index: (saved text, fresh text)} for the cells run by default whose saved text output differs from the fresh run's"
    flags, res = skip_flags(), {}
    for i, (s, f) in enumerate(zip(saved.cells, fresh.cells)):
        if skipped(s, flags): continue
        a, b = (''.join(map(text_of, c.get('outputs', []) or [])).strip() for c in (s, f))
        if not same_text(a, b): res[i] = (a, b)
    return res

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb):
    from execnb.nbio import read_nb
    t = time.time()
    fresh, err = run_nb(nb, skip_flags(FORCE))
    print(f'{nb.name}: {time.time()-t:.1f}s')
    assert err is None, f'{nb.name} failed:\n{err}'
    if os.environ.get('METAMATH_SKIP_OUTPUT_CHECK') == '1': return   # e.g. on hardware whose tiny-model generations differ
    stale = stale_cells(read_nb(nb), fresh)
    first = next(iter(stale.items()), None)
    assert not stale, (f'{nb.name}: the saved outputs of cells {list(stale)} differ from a fresh run (`make outputs` saves them; METAMATH_SKIP_OUTPUT_CHECK=1 skips this check); '
                       f'cell {first[0]} saved:\n{first[1][0][:400]}\nfresh:\n{first[1][1][:400]}' if first else '')

def test_same_text():
    "Float noise passes, a changed count, word or number of values does not"
    assert same_text('loss 10.797, 4,591 tokens', 'loss 10.80, 4,591 tokens')
    assert not same_text('kept 7,050', 'kept 7,060') and not same_text('kept 12', 'kept 13')
    assert not same_text('GSM_SV 3', 'GSM_FOBAR 3') and not same_text('a 1 2', 'a 1')
