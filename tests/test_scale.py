"The paper-scale path against a chat-only teacher: `metamath bootstrap` at its defaults, and a dry run killed and resumed"
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from openai_server import ServerProcess
from metamath.data import read_jsonl

ENV = {**os.environ, 'PYTHONPATH': f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


@pytest.fixture(scope='module')
def chat_only():
    "The simulated teacher on GSM8K, chat only (404 on /v1/completions, OpenAI's words), served as gpt-3.5-turbo"
    with ServerProcess('--sim', 'gsm8k', '--served-name', 'gpt-3.5-turbo', '--chat-only', timeout=600) as srv: yield srv


def test_bootstrap_defaults_chat_only(chat_only, tmp_path):
    "`metamath bootstrap --backend openai --base_url URL --model M`, unchanged, works against a chat-only server"
    chat_only.control(reset=True)
    cmd = [sys.executable, '-c', 'from metamath.cli import main; main()', 'bootstrap', '--backend', 'openai', '--base_url', chat_only.url,
           '--model', 'gpt-3.5-turbo', '--out', str(tmp_path/'boot'), '--quiet']
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    st = chat_only.stats()
    assert st['completions_refused'] == 1 and st['chat'] == st['requests'] - 1 and st['ok'] == st['chat']
    cands = read_jsonl(tmp_path/'boot'/'candidates.jsonl')
    types = {c['type'] for c in cands}
    assert types == {'GSM_AnsAug', 'GSM_Rephrased', 'GSM_SV', 'GSM_FOBAR'}, types
    assert {c['answer_rule'] for c in cands if c['correct']} <= {'answer_is', 'value_of_var'}
    assert all(c['finish_reason'] != 'length' for c in cands if c['correct'])
    summ = json.loads((tmp_path/'boot'/'bootstrap.json').read_text())['summary']
    assert all(s['correct'] > 0 for s in summ), summ
    cache = read_jsonl(tmp_path/'boot'/'generations.jsonl')
    assert len(cache) == len({r['key'] for r in cache}) > 0
    # the same command, again: everything from the cache, under chat keys (one probe, no samples asked)
    p2 = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert p2.returncode == 0, p2.stderr[-3000:]
    assert json.loads(p2.stdout.strip().splitlines()[-1])['generated'] == 0
    assert chat_only.stats()['requests'] == st['requests'] + 1
    # forcing completions fails loudly, with the server's words
    p3 = subprocess.run(cmd[:-3] + ['--out', str(tmp_path/'b3'), '--chat', 'false', '--n', '1', '--k', '1', '--quiet'],
                        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert p3.returncode != 0 and 'This is a chat model' in p3.stderr


def test_dry_run_killed_and_resumed(tmp_path):
    "bench/scale.py at a small scale, killed (SIGKILL) during the bootstrap and run again: every sample written once"
    out = tmp_path/'scale'
    cmd = [sys.executable, str(ROOT/'bench'/'scale.py'), '--scale', '0.002', '--out', str(out), '--results', str(tmp_path/'r.json')]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    caches = lambda: sorted((out/'scale-0.002'/'bootstrap').glob('*/generations.jsonl'))
    t0 = time.time()
    while time.time() - t0 < 600 and proc.poll() is None:
        if sum(p.stat().st_size for p in caches()) > 200_000: break
        time.sleep(0.2)
    assert proc.poll() is None, 'the dry run ended before it could be killed'
    proc.send_signal(signal.SIGKILL); proc.wait()
    before = sum(len(p.read_text().splitlines()) for p in caches())
    assert before > 0
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((tmp_path/'r.json').read_text())
    keys = [r['key'] for c in caches() for r in read_jsonl(c)]
    assert len(keys) == len(set(keys)), 'a sample was written twice'
    assert res['cached'] >= before - 1 and res['generated'] > 0           # the kill may tear the last line only
    assert res['cached'] + res['generated'] + res['failed'] == len(keys)
    assert res['completions_refused'] == 2 and res['kept'] > 0          # one probe per data set's backend and set(res['kept_by_type']) >= {'GSM_AnsAug', 'MATH_FOBAR'}
