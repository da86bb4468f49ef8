"""bench/gpu.py (issue 17) on the CPU: its argument handling, and a tiny smoke run (random Llama, FSDP2 on gloo) that
writes the JSON the GPU run writes, with the packed-vs-padded loss parity. The GPU numbers themselves need a GPU."""
import importlib.util, json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('bench_gpu', ROOT/'bench'/'gpu.py')
gpu = importlib.util.module_from_spec(spec); spec.loader.exec_module(gpu)

def test_defaults_are_the_issue_plan():
    a = gpu.parse_args([])
    assert a.models == ['llama2-7b', '1b'] and a.max_len == 512 and a.budget_s <= 480 and not a.smoke
    assert gpu.SHAPES['llama2-7b']['hidden_size'] == 4096 and gpu.SHAPES['llama2-7b']['num_hidden_layers'] == 32
    assert gpu.MODE['llama2-7b'] == 'lora' and gpu.MODE['1b'] == 'full'
    assert gpu.parse_args(['--models', '1b', '--steps', '3']).models == ['1b']

@pytest.mark.parametrize('argv, msg', [
    (['--models', 'gpt5'], "unknown ['gpt5']"),
    (['--models', ','], 'unknown'),
    (['--steps', '0'], '--steps must be >= 1'),
    (['--max_len', '8192'], 'a sample must fit a packed row'),
    (['--tokens', '100'], 'a step must hold a whole sample'),
    (['--warmup', '-1'], 'must be >= 0'),
])
def test_bad_arguments_are_refused(argv, msg, capsys):
    with pytest.raises(SystemExit): gpu.parse_args(argv)
    assert msg in capsys.readouterr().err

def test_smoke_shrinks_everything():
    a = gpu.parse_args(['--smoke'])
    assert a.models == ['tiny'] and a.tokens <= 1024 and a.max_len <= a.pack_len and a.out.endswith('gpu_smoke.json')

def test_no_gpu_is_a_clear_error():
    import torch
    if torch.cuda.is_available(): pytest.skip('a GPU is here')
    with pytest.raises(SystemExit, match='no CUDA GPU here'): gpu.run(gpu.parse_args(['--models', '1b']))

def test_lengths_and_packing():
    import random
    L = gpu.sample_lengths(5000, 512, random.Random(0))
    assert sum(L) >= 5000 and all(64 <= n <= 512 for n in L) and 150 < sorted(L)[len(L)//2] < 350
    rows = gpu.pack(L, 4096)
    assert sorted(i for r in rows for i in r) == list(range(len(L))) and all(sum(L[i] for i in r) <= 4096 for r in rows)

def test_smoke_run_writes_results(tmp_path):
    out = tmp_path/'gpu_smoke.json'
    p = subprocess.run([sys.executable, str(ROOT/'bench'/'gpu.py'), '--smoke', '--out', str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [(r['model'], r['layout']) for r in res['runs']] == [('tiny', 'packed'), ('tiny', 'padded')]
    assert all(r['tokens_per_s'] > 0 and r['trainable'] < r['params'] for r in res['runs'])
    assert res['runs'][0]['pad_frac'] < res['runs'][1]['pad_frac']           # packing wastes less than padding
    assert res['parity']['tiny']['total_rel_diff'] < 1e-2                     # packed rows do not attend across samples
    assert '| tiny | lora | packed |' in p.stdout
