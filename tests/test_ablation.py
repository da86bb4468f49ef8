"""`metamath run --config configs/ablation-full.toml`, the one command of issue 20, end to end at tiny scale: the
simulated teacher (tests/sim_teacher.py, served locally) so that every augmentation keeps records, the tiny random
Llama as student, five arms on GSM8K and GSM8K-Backward; then the same command again (every stage current), and
with a grown AnsAug budget (cached samples reused, unchanged arms keep their fine-tune and evaluations)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from openai_server import ServerProcess
from metamath.data import read_jsonl

ENV = {**os.environ, 'PYTHONPATH': f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
ARMS = ['sft', 'ansaug', 'rephrased', 'sv_fobar', 'all']
KEYS = {'name', 'train_records', 'gsm8k', 'gsm8k_backward', 'test_nll', 'paired_vs_sft'}
METRICS = [f'{ds}.{m}' for ds in ('gsm8k', 'gsm8k_backward') for m in ('strict', 'paper', 'symbolic')] + ['test_nll']


def metamath_run(tmp:Path, url:str, ansaug:str)->str:
    sets = (f"run.out='{tmp/'runs'}' teacher.backend='openai' teacher.model='sim' teacher.base_url='{url}' "
            f"\"bootstrap.datasets={{gsm8k='AnsAug={ansaug},Rephrased=6x2,SV=6x2,FOBAR=6x2'}}\" bootstrap.rewrites=1 "
            "analyse.model='tiny' analyse.limit=8 finetune.student='tiny' finetune.original=6 finetune.max_steps=2 "
            "finetune.batch_size=4 finetune.micro_batch_size=2 finetune.max_len=256 finetune.save_every=0 "
            "evaluate.backend='hf' evaluate.limit=4 evaluate.max_tokens=12 evaluate.batch_size=8 "
            f"ablation.results='{tmp/'ablation.json'}' ablation.figure='{tmp/'figs'/'ablation.png'}' ablation.n_boot=200 "
            "ablation.note='tiny test run'")
    p = subprocess.run([sys.executable, '-c', 'from metamath.cli import main; main()', 'run', '--config', 'configs/ablation-full.toml',
                        '--set', sets], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def test_ablation_full_config_tiny(tmp_path):
    with ServerProcess('--sim', 'gsm8k', '--served-name', 'sim', timeout=600) as srv:
        out = metamath_run(tmp_path, srv.url, '6x2')
        run = tmp_path/'runs'/'ablation-full'
        res = json.loads((tmp_path/'ablation.json').read_text())
        test_schema = [a['name'] for a in res['arms']]
        assert test_schema == ARMS, test_schema
        for a in res['arms']:
            assert set(a) == KEYS, set(a)
            for ds in ('gsm8k', 'gsm8k_backward'):
                assert set(a[ds]) == {'n', 'strict', 'paper', 'symbolic', 'ci'} and a[ds]['n'] == 4, a[ds]
                assert all(0 <= a[ds][m] <= 1 and a[ds]['ci'][m][0] <= a[ds][m] <= a[ds]['ci'][m][1] for m in ('strict', 'paper', 'symbolic'))
            assert set(a['paired_vs_sft']) == set(METRICS) and all(len(v) == 3 for v in a['paired_vs_sft'].values())
            assert 5 < a['test_nll'] < 20, a['test_nll']         # the random student: about ln(49152) = 10.8
        tr = {a['name']: a['train_records'] for a in res['arms']}
        assert tr['sft'] == {'GSM_Original': 6}, tr
        for nm,types in [('ansaug', ['GSM_AnsAug']), ('rephrased', ['GSM_Rephrased']), ('sv_fobar', ['GSM_SV', 'GSM_FOBAR'])]:
            assert set(tr[nm]) == {'GSM_Original', *types} and all(tr[nm][t] > 0 for t in types), tr
        assert set(tr['all']) == {'GSM_Original', 'GSM_AnsAug', 'GSM_Rephrased', 'GSM_SV', 'GSM_FOBAR'}, tr
        assert res['arms'][0]['paired_vs_sft']['test_nll'] == [0.0, 0.0, 0.0]
        assert res['arms'][1]['paired_vs_sft']['test_nll'] != [0.0, 0.0, 0.0]       # another model: another NLL
        assert res['paper']['sft']['gsm8k'] == 41.6 and res['paper']['all']['gsm8k'] == 64.4 and res['paper']['sv_fobar']['gsm8k'] is None
        assert res['balanced'] is False and res['warnings']                  # 6 originals, a few records per augmentation
        tab = (tmp_path/'ablation.md').read_text()
        assert tab.startswith('**tiny test run**') and sum(l.startswith(('| sft', '| ansaug', '| rephrased', '| sv_fobar', '| all')) for l in tab.splitlines()) == 5
        assert '| 41.6 |' in tab and '| 64.4 |' in tab and 'gsm8k_backward n = 4' in tab
        assert (tmp_path/'figs'/'ablation.png').stat().st_size > 10_000
        assert '## Ablation' in (run/'report.md').read_text()
        nll = sorted((run/'ablation').glob('nll_*.jsonl')); assert len(nll) == 5

        # the same command again: every stage is current
        again = metamath_run(tmp_path, srv.url, '6x2')
        lines = [l for l in again.splitlines() if l.startswith('[')]
        assert sum('] current (' in l for l in lines) == 15 and not any('] running (' in l for l in lines), lines   # 4 + 5 x 2 + ablation

        # a grown AnsAug budget: the old samples come from the cache; arms without AnsAug keep fine-tune and evaluations
        logs = {a: sorted((run/f'finetune_{a}').glob('run_*/train.log')) for a in ['sft', 'rephrased', 'sv_fobar', 'ansaug', 'student']}
        before = {a: [(p, p.stat().st_mtime) for p in v] for a,v in logs.items()}
        grown = metamath_run(tmp_path, srv.url, '9x2')
        boot = json.loads((run/'bootstrap'/'done.json').read_text())['result']['gsm8k']['totals']
        assert boot['cached'] > 0 and boot['generated'] > 0, boot
        for a in ['sft', 'rephrased', 'sv_fobar']:
            assert [(p, p.stat().st_mtime) for p in sorted((run/f'finetune_{a}').glob('run_*/train.log'))] == before[a], a   # not retrained
            ev = json.loads((run/f'eval_{a}'/'done.json').read_text())['result']
            assert all(ev[ds]['generation']['output_tokens'] == 0 and ev[ds]['generation']['cached'] == 4 for ds in ev), ev
        for a in ['ansaug', 'student']:
            now = sorted((run/f'finetune_{a}').glob('run_*'))
            assert len(now) == 1 and now[0] != before[a][0][0].parent, (a, now)       # retrained in a new folder, the old one gone
        res2 = json.loads((tmp_path/'ablation.json').read_text())
        assert res2['arms'][0] == res['arms'][0] or res2['arms'][0]['gsm8k'] == res['arms'][0]['gsm8k']
        assert res2['arms'][1]['train_records']['GSM_AnsAug'] >= res['arms'][1]['train_records']['GSM_AnsAug']
        assert len(sorted((run/'ablation').glob('nll_*.jsonl'))) == 7                # two new models scored, three read back
