"Repo hygiene that CI checks: notebooks clean, `metamath/` in sync with `nbs/`, README in sync with `nbs/index.ipynb`."
import difflib, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# nbdev's commands do nothing under IN_TEST, which the notebook runner sets in this process
ENV = {k:v for k,v in os.environ.items() if k != 'IN_TEST'}

def _copy(tmp):
    shutil.copy(ROOT/'settings.ini', tmp)
    shutil.copytree(ROOT/'nbs', tmp/'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    return tmp

def test_notebooks_clean(tmp_path):
    "`nbdev_clean` changes nothing: no stray outputs metadata, execution counts or cell ids."
    _copy(tmp_path)
    subprocess.run([BIN/'nbdev_clean', '--fname', 'nbs'], cwd=tmp_path, check=True, env=ENV)
    dirty = [p.name for p in (ROOT/'nbs').glob('*.ipynb') if p.read_text() != (tmp_path/'nbs'/p.name).read_text()]
    assert not dirty, f'run `nbdev_clean` (or `make export`): unclean notebooks {dirty}'

def test_library_in_sync(tmp_path):
    "`nbdev_export` of `nbs/` reproduces `metamath/` exactly: nobody edited the library by hand."
    _copy(tmp_path)
    (tmp_path/'metamath').mkdir()
    shutil.copy(ROOT/'metamath'/'__init__.py', tmp_path/'metamath')
    subprocess.run([BIN/'nbdev_export'], cwd=tmp_path, check=True, env=ENV)
    want = {p.name: p.read_text() for p in (tmp_path/'metamath').glob('*.py')}
    have = {p.name: p.read_text() for p in (ROOT/'metamath').glob('*.py')}
    diff = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
    first = diff and '\n'.join(list(difflib.unified_diff(have.get(diff[0], '').splitlines(),
                                want.get(diff[0], '').splitlines(), 'metamath/'+diff[0], 'exported', lineterm=''))[:30])
    assert not diff, f'run `nbdev_export`: metamath/ differs from nbs/ in {diff}\n{first}'

def test_readme_in_sync(tmp_path):
    "README.md is `nbs/index.ipynb` rendered by `make readme`."
    subprocess.run([BIN/'jupyter', 'nbconvert', '--to', 'markdown', str(ROOT/'nbs'/'index.ipynb'),
                    '--output-dir', str(tmp_path), '--output', 'README', '--log-level', 'WARN'], check=True)
    assert (tmp_path/'README.md').read_text() == (ROOT/'README.md').read_text(), 'run `make readme`'

def test_saved_outputs():
    "Every numbered notebook shows its results (saved outputs), and they are fit for GitHub: no paths, addresses, timings or images."
    sys.path.insert(0, str(ROOT/'tools'))
    from outputs import problems
    from execnb.nbio import read_nb
    nbs = sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))
    empty = [p.name for p in nbs if not any(c.get('outputs') for c in read_nb(p).cells)]
    assert not empty, f'no saved outputs in {empty}: run `make outputs`'
    bad = {p.name: b for p in nbs if (b := problems(read_nb(p)))}
    assert not bad, f'unfit saved outputs: {bad}'
