"""Process-level tests of `metamath.train` (nbs/06_finetune.ipynb): a run killed with SIGKILL after a checkpoint
resumes to the same loss curve; two processes (DDP on gloo) agree with one on the same global batch; bad data
stops the CLI with its file and line (--on_bad raise); the released MetaMathQA shape,
blank rows and all, trains with --template paper. All on the tiny random Llama with the real SmolLM2 tokenizer."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ACCELERATE = Path(PY).parent/'accelerate'
ARGS = ['--data', 'gsm8k', '--limit', '40', '--model', 'tiny', '--batch_size', '4', '--micro_batch_size', '2',
        '--max_len', '256', '--lr', '1e-2', '--warmup_ratio', '0', '--no-progress']

def _env(**kw):
    env = {k:v for k,v in os.environ.items() if k != 'IN_TEST'}
    env.update(HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', **kw)
    return env

def _train(out, *args, env=None):
    return subprocess.run([PY, '-m', 'metamath.train', *ARGS, *args, '--out', str(out)], cwd=ROOT, env=env or _env(),
                          capture_output=True, text=True, timeout=600)

def _log(out): return [json.loads(l) for l in (Path(out)/'log.jsonl').read_text().splitlines() if l.strip()]

@pytest.fixture(scope='module', autouse=True)
def tiny_model():
    "Build (or find) the cached tiny Llama before any subprocess needs it"
    from metamath.models import resolve_model
    return resolve_model('tiny')

def test_kill_and_resume(tmp_path):
    "SIGKILL after the first checkpoint, rerun the same command: the log is the uninterrupted run's curve"
    args = ['--max_steps', '6', '--save_every', '2']
    ref = _train(tmp_path/'ref', *args)
    assert ref.returncode == 0, ref.stderr[-3000:]
    out = tmp_path/'run'
    p = subprocess.Popen([PY, '-m', 'metamath.train', *ARGS, *args, '--out', str(out)], cwd=ROOT, env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, t0 = out/'checkpoints'/'step_0000002'/'progress.json', time.time()
    while not first.exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.02)
    assert p.poll() is None, 'the run ended before it could be killed'
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL
    assert not (out/'final').exists()
    before = _log(out)
    res = _train(out, *args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'resumed from' in res.stdout
    a,b = _log(tmp_path/'ref'),_log(out)
    assert [r['step'] for r in b] == list(range(1, 7)), [r['step'] for r in b]
    for x,y in zip(a, b):
        assert abs(x['loss'] - y['loss']) < 1e-6, (x, y)
        assert abs(x['grad_norm'] - y['grad_norm']) < 1e-5 * max(1, x['grad_norm'])
        assert x['lr'] == y['lr']
    assert (out/'final'/'config.json').exists()
    print(f'killed after {len(before)} logged steps; losses', [round(r['loss'], 4) for r in b])

def test_two_processes_agree(tmp_path):
    "Two processes on gloo and one process see the same global batches and give the same losses and weights"
    args = ['--max_steps', '2', '--batch_size', '8', '--save_every', '0']
    one = _train(tmp_path/'one', *args)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([str(ACCELERATE), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                          '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m', 'metamath.train', *ARGS, *args,
                          '--out', str(tmp_path/'two')], cwd=ROOT, env=_env(ACCELERATE_USE_CPU='1'),
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    a,b = _log(tmp_path/'one'),_log(tmp_path/'two')
    assert [r['world'] for r in a] == [1]*2 and [r['world'] for r in b] == [2]*2
    assert [r['tokens'] for r in a] == [r['tokens'] for r in b]
    for x,y in zip(a, b):
        assert abs(x['loss'] - y['loss']) < 1e-5 * x['loss'], (x, y)
        assert abs(x['grad_norm'] - y['grad_norm']) < 1e-4 * x['grad_norm'], (x, y)
    from safetensors.torch import load_file
    wa,wb = (load_file(str(tmp_path/d/'final'/'model.safetensors')) for d in ('one', 'two'))
    assert wa.keys() == wb.keys()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-4

def _released(path):
    "A file in the released MetaMathQA-395K.json shape (one JSON array), with blank rows like the released file's"
    from metamath.data import load_data
    from metamath.train import gsm8k_to_metamath
    types = ['GSM_AnsAug', 'GSM_Rephrased', 'GSM_SV', 'GSM_FOBAR'] * 3
    rows = [dict(query=r['question'], response=gsm8k_to_metamath(r, keep_hash=True)['response'], type=t,
                 original_question=r['question']) for r,t in zip(load_data('gsm8k', 'train', limit=12), types)]
    rows[3]['query'] = 'FOBAR line one\nIf we know the answer to the above question is 4, what is the value of unknown variable x?'
    rows[4]['query'] = ''; rows[9]['query'] = ' '
    path.write_text(json.dumps(rows))
    return path

def test_released_file_trains_with_paper_template(tmp_path):
    "The released shape with blank rows trains with --template paper; the log and config.json name the skipped rows"
    data = _released(tmp_path/'MetaMathQA-395K.json')
    res = subprocess.run([PY, '-m', 'metamath.train', *ARGS, '--data', str(data), '--template', 'paper', '--max_steps', '2',
                          '--save_every', '0', '--out', str(tmp_path/'o')], cwd=ROOT, env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f'{data}: skipped 2 rows: 2 blank query (rows 5, 10)' in res.stdout, res.stdout[-2000:]
    rep = json.loads((tmp_path/'o'/'config.json').read_text())
    assert rep['template'] == 'paper' and rep['data_report']['skipped_rows'] == {'blank query': {'count': 2, 'rows': [5, 10]}}
    assert rep['data_report']['samples'] == 10 and rep['data_report']['by_type']['GSM_FOBAR']['samples'] == 3
    assert [r['step'] for r in _log(tmp_path/'o')] == [1, 2]

def test_bad_data_names_file_and_line(tmp_path):
    "With --on_bad raise, a row without a response stops the CLI before training, naming the file, line and field"
    bad = tmp_path/'bad.jsonl'
    bad.write_text('{"query": "1+1?", "response": "2\\nThe answer is: 2"}\n{"query": "2+2?"}\n')
    res = subprocess.run([PY, '-m', 'metamath.train', '--data', str(bad), '--model', 'tiny', '--on_bad', 'raise',
                          '--out', str(tmp_path/'o')], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert f"{bad}:2: missing response" in res.stderr, res.stderr[-2000:]
    assert not (tmp_path/'o'/'log.jsonl').exists()
