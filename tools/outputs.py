"""`make outputs`: run each notebook with execnb (cells flagged with `tst_flags` skipped), save its outputs, nbdev_clean.

Saved outputs are the docs a reader sees on GitHub, so they must be small and deterministic. This script refuses to
save a notebook whose outputs hold a machine path, an object address, a timing or too many bytes, and the notebook
tests (tests/test_notebooks.py) re-run every cell and fail where a saved output no longer matches: outputs cannot go
stale. stderr (warnings, progress bars) is not saved.

    python tools/outputs.py                 # every notebook in nbs/
    python tools/outputs.py nbs/01_answers.ipynb
"""
import argparse, os, re, sys, tempfile, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.clean import nbdev_clean
from nbdev.config import get_config
from nbdev.process import extract_directives

ROOT = Path(__file__).resolve().parents[1]
MAX_TEXT = 20_000    # characters of text output per notebook
MAX_IMAGE = 0        # images: figures are written to figures/ by code and shown from there, never embedded
BAD = [(re.compile(r'(?<![\w.])/(?:tmp|work|home|root|Users|var/folders)/|site-packages'), 'a machine path'),
       (re.compile(r' at 0x[0-9a-fA-F]{6,}'), 'an object address'),
       (re.compile(r'\b\d+(?:\.\d+)?\s*(?:it/s|s/it|seconds|secs?)\b|\belapsed\b|\d\d:\d\d:\d\d'), 'a timing')]

# What differs from run to run or machine to machine, written the same way every time: temporary folders, this Python,
# the repo's location, and durations and rates (decimal seconds, tokens/s, JSON `*_s` fields), as in doctest's ellipsis
SCRUB = [(re.compile(re.escape(tempfile.gettempdir()) + r'/tmp[\w-]+'), '$TMP'), (re.compile(re.escape(sys.executable)), 'python'),
         (re.compile(re.escape(str(ROOT)) + r'(?=/|\b)'), '.'),
         (re.compile(r'\b\d+\.\d+ ?s\b(?!/)'), '… s'), (re.compile(r'\b\d+(?:\.\d+)? tok(?:en)?s?/s\b'), '… tok/s'),
         (re.compile(r'("\w*(?:wall|secs|seconds|_s)": )\d+(?:\.\d+)?'), r'\1…')]

def scrub(text):
    "`text` with temporary folders, this Python, the repo's location, durations and rates written as `$TMP`, `python`, `.` and `…`"
    for rx, to in SCRUB: text = rx.sub(to, text)
    return text

def _scrub_out(o):
    if o.get('output_type') == 'stream': o['text'] = scrub(''.join(o['text'])).splitlines(keepends=True)
    for k, v in o.get('data', {}).items():
        if k.startswith('text/'): o['data'][k] = scrub(''.join(v)).splitlines(keepends=True)
    return o

def skip_flags(force=()):
    "The `tst_flags` of settings.ini less the flags in `force`"
    return set(get_config(path=ROOT).tst_flags.split()) - set(force)

def skipped(cell, flags):
    "True when `cell` is not run: not code, `nbdev_export()`, `#| eval: false`, or a flag in `flags`"
    if cell.cell_type != 'code': return True
    if 'nbdev_export' + '(' in cell.source: return True
    d = extract_directives(cell, remove=False)
    if d.get('eval:', [''])[0].lower() == 'false': return True
    return bool(flags & d.keys())

def run_nb(path, flags):
    "Run the notebook at `path` in a fresh execnb shell; return it with each run cell's new outputs (None on success, else the error text)"
    nb, path = read_nb(path), Path(path).resolve()
    os.environ['IN_TEST'] = '1'
    sys.path.insert(0, str(ROOT))
    shell = CaptureShell(path)
    with working_directory(path.parent):
        for cell in nb.cells:
            if cell.cell_type != 'code': continue
            cell.outputs = []
            if skipped(cell, flags): continue
            shell.cell(cell)
            cell.outputs = [_scrub_out(o) for o in cell.outputs if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
            if shell.exc: return nb, shell.prettytb(fname=path)
    return nb, None

def text_of(out):
    "The text a reader sees in one output: a stream, a result's text/plain, or an error's name"
    if out.get('output_type') == 'stream': return ''.join(out.get('text', ''))
    if out.get('output_type') == 'error': return f"{out.get('ename')}: {out.get('evalue')}"
    d = out.get('data', {})
    return ''.join(d.get('text/plain', '')) if 'text/plain' in d else ''

def problems(nb):
    "What makes `nb`'s outputs unfit to save: a list of 'cell N: ...'"
    res, total, images = [], 0, 0
    for i, cell in enumerate(nb.cells):
        for out in cell.get('outputs', []) or []:
            t = text_of(out); total += len(t)
            if out.get('output_type') == 'error': res.append(f'cell {i}: an error ({t[:80]})')
            images += sum(len(v) for k, v in out.get('data', {}).items() if k.startswith('image/'))
            for rx, what in BAD:
                if m := rx.search(t): res.append(f'cell {i}: {what}: {t[max(0, m.start()-30):m.end()+30]!r}')
    if total > MAX_TEXT: res.append(f'{total:,} characters of text output (at most {MAX_TEXT:,})')
    if images > MAX_IMAGE: res.append(f'{images:,} bytes of embedded images: write figures to figures/ and link them')
    return res

def saved_outputs(path, force=()):
    "Run `path` and save its outputs; raise with the cell and reason when a cell fails or an output is unfit"
    t = time.time()
    nb, err = run_nb(path, skip_flags(force))
    if err: raise RuntimeError(f'{path}: a cell failed, nothing saved:\n{err}')
    if bad := problems(nb): raise ValueError(f'{path}: outputs not saved:\n  ' + '\n  '.join(bad))
    write_nb(nb, path)
    nbdev_clean(str(path))
    return time.time() - t

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('nbs', nargs='*', help='notebooks (default: every numbered notebook in nbs/)')
    a = p.parse_args()
    paths = [Path(n) for n in a.nbs] or sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))
    failed = []
    for n in paths:
        try: print(f'{n.name}: saved in {saved_outputs(n):.0f} s', flush=True)
        except (RuntimeError, ValueError) as e: print(e, file=sys.stderr); failed.append(n.name)
    if failed: sys.exit(f'outputs not saved for {len(failed)} notebook(s): {", ".join(failed)}')
