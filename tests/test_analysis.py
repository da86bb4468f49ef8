"Process-level tests of `metamath.analysis`: the `analyse_cli` command line and the diversity benchmark script."
import json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, '-m', 'metamath.analysis']   # `@call_parse` runs the command when the module is run

def _run(cmd, **kw): return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, **kw)

def _write(p, rows): p.write_text(''.join(json.dumps(r) + '\n' for r in rows))

def test_cli_args_and_report(tmp_path):
    "Flags parse through `@call_parse`; with models and embedders off it still counts types and writes report.json."
    d = tmp_path/'data'; d.mkdir()
    _write(d/'GSM_AnsAug.jsonl', [{'query': f'q{i}', 'response': f'r{i}'} for i in range(3)])
    _write(d/'mixed.jsonl', [{'query': 'q', 'response': 'r', 'type': 'GSM_FOBAR'}, {'query': 'q', 'response': 'r'}])
    r = _run(CLI + [str(d), '--out', str(tmp_path/'out'), '--model', 'none', '--embedder', 'none'])
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path/'out'/'report.json').read_text())
    assert rep['n'] == {'GSM_AnsAug': 3, 'GSM_FOBAR': 1, 'mixed': 1}
    h = _run(CLI + ['--help'])
    assert h.returncode == 0 and 'D_base' in h.stdout and '--max_length' in h.stdout

def test_cli_bad_line_names_file_and_line(tmp_path):
    "A record without `response` stops the command before any model loads, naming file and line."
    d = tmp_path/'data'; d.mkdir()
    _write(d/'x.jsonl', [{'query': 'q', 'response': 'r'}, {'query': 'q'}])
    r = _run(CLI + [str(d), '--out', str(tmp_path/'out')])
    assert r.returncode != 0 and "x.jsonl:2: missing response" in r.stderr
    assert not (tmp_path/'out'/'report.json').exists()

def test_bench_smoke(tmp_path):
    "bench/diversity.py runs end to end on a small case, prints its table and writes JSON that matches brute force."
    out = tmp_path/'d.json'
    r = _run([sys.executable, 'bench/diversity.py', '--cases', '3000x1000', '--chunk', '512', '--out', str(out)])
    assert r.returncode == 0, r.stderr
    assert '| N | M |' in r.stdout
    row = json.loads(out.read_text())['rows'][0]
    assert (row['N'], row['M'], row['chunk']) == (3000, 1000, 512)
    assert row['max_abs_err_vs_full'] < 1e-4 and 0 < row['d_gain'] < 4
