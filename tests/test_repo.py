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

# Layering (issue 21): one home per format, imports that only go down, no text helpers borrowed from a stage.
ALPACA_HEAD = 'Below is an ' + 'instruction'   # split, so that this file is not a copy of the prompt

def _files(*exts):
    "The repo's files (tracked or not ignored) ending in `exts`"
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT/f for f in out.stdout.splitlines() if Path(f).suffix in exts and (ROOT/f).is_file()]

def _code(p:Path)->str:
    "The code of a `.py` file, or of a notebook's code cells"
    if p.suffix != '.ipynb': return p.read_text()
    import json
    return '\n'.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code')

def _modules()->dict:
    "metamath module -> (number, notebook), from each notebook's `#| default_exp`"
    import re
    out = {}
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        if m := re.search(r'#\|\s*default_exp\s+(\w+)', _code(nb)): out[m[1]] = (nb.name.split('_')[0], nb)
    return out

IMPORT_RX = r'^[ \t]*(?:from[ \t]+(?:metamath)?\.(\w+)[ \t]+import|import[ \t]+metamath\.(\w+))'

def _imports(p:Path)->set:
    import re
    return {a or b for a,b in re.findall(IMPORT_RX, _code(p), re.M)}

def test_one_alpaca_prompt():
    "The Alpaca prompt is written in one place: `nbs/00b_formats.ipynb` and the module it exports."
    hits = sorted(str(p.relative_to(ROOT)) for p in _files('.py', '.ipynb') if ALPACA_HEAD in p.read_text())
    num, nb = _modules()['formats']
    assert hits == ['metamath/formats.py', f'nbs/{nb.name}'], f'the Alpaca prompt is written outside metamath.formats: {hits}'

def test_imports_go_down():
    "A module (and its notebook) imports only from modules of lower number: `03` may import `02a`, never `04`."
    mods, up = _modules(), []
    assert {'data', 'formats', 'masking', 'bootstrap', 'analysis', 'train'} <= set(mods), sorted(mods)
    for name,(num,nb) in mods.items():
        for f in (ROOT/'metamath'/f'{name}.py', nb):
            up += [f'{f.relative_to(ROOT)} ({num}) imports {m} ({mods[m][0]})' for m in _imports(f)
                   if m in mods and m != name and mods[m][0] >= num]
    assert not up, 'imports that go up:\n' + '\n'.join(sorted(up))

def test_no_text_helpers_from_bootstrap():
    "filter, analysis and evaluate import nothing from bootstrap, and nobody takes a format or masking name from it."
    import re
    for name in ('filter', 'analysis', 'evaluate'):
        for f in (ROOT/'metamath'/f'{name}.py', _modules()[name][1]):
            assert 'bootstrap' not in _imports(f), f'{f.relative_to(ROOT)} imports from bootstrap'
    import metamath.formats, metamath.masking
    owned = set(metamath.formats.__all__) | set(metamath.masking.__all__)
    bad = []
    for f in _files('.py', '.ipynb'):
        for names in re.findall(r'from[ \t]+(?:metamath)?\.bootstrap[ \t]+import[ \t]+\(?([\w, \t]+)', _code(f)):
            bad += [f'{f.relative_to(ROOT)}: {n}' for n in re.split(r'[,\s]+', names.strip()) if n in owned]
    assert not bad, 'import these from metamath.formats / metamath.masking, not bootstrap:\n' + '\n'.join(bad)

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
