"""The analysis notebook's measurements on real data (nbs/05_analysis, "Measured on real data"), as one script.

Perplexity under SmolLM2-135M-Instruct of 150 records each of GSM8K train CoT, answer-only and GSM8K-Backward's
FOBAR/SV solutions (the paper's Fig. 3), and the diversity gain with MiniLM of held-out GSM8K CoT and of GSM8K-Backward
solutions over the rest of GSM8K train CoT, also against size (Fig. 2's axis). Writes `bench/results/analysis_real.json`
(which the notebook shows) and the figures `figures/perplexity_by_type.png` and `figures/diversity_vs_size.png`.

    python bench/analysis_real.py                     # both parts (about 30 min on 2 cores)
    python bench/analysis_real.py --parts perplexity
"""
import argparse, json, platform, random, resource, time
from pathlib import Path
import numpy as np
from metamath.analysis import (_interleave, answer_only_records, backward_records, cot_records, diversity_by_size,
                               diversity_gain, embed_records, load_lm, perplexity, perplexity_summary, plot_diversity_vs_size,
                               plot_perplexity)
from metamath.data import load_data, ncpus, write_json

ROOT = Path(__file__).resolve().parents[1]

def cpu_s()->float:
    "CPU seconds of this process and its children so far"
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

def part_perplexity(gsm_tr, bw, n=150)->dict:
    "Response perplexity of n records per source, as the notebook's cell did"
    rng = random.Random(0)
    gsm_s = rng.sample(gsm_tr, n)
    real = cot_records(gsm_s) + answer_only_records(gsm_s) + rng.sample(backward_records(bw), n)
    df = perplexity(real, load_lm('smollm2'), batch_size=8)
    plot_perplexity(df, title=f'Response perplexity under SmolLM2-135M-Instruct ({n} records per source)')
    s = perplexity_summary(df).round(4)
    return dict(model='smollm2', records=len(real), summary=s.reset_index().to_dict('records'))

def part_diversity(gsm_tr, bw)->dict:
    "Diversity gain of held-out CoT and of backward solutions over GSM8K train CoT, and against size"
    order = list(range(len(gsm_tr))); random.Random(0).shuffle(order)
    held, base_ix = order[:2000], order[2000:]
    cot_all = cot_records(gsm_tr); bw_all = backward_records(bw, 'all'); random.Random(0).shuffle(bw_all)
    E_cot, E_bw = embed_records(cot_all, 'minilm'), embed_records(bw_all, 'minilm')
    E_base, E_held = E_cot[base_ix], E_cot[held]
    is_t = lambda t: [r['type'] == t for r in bw_all[:1000]]
    gains = {'held-out GSM8K CoT (1,000)': diversity_gain(E_held[:1000], E_base),
             'GSM8K-Backward FOBAR+SV (1,000)': diversity_gain(E_bw[:1000], E_base),
             'GSM8K-Backward FOBAR only': diversity_gain(E_bw[:1000][is_t('GSM_FOBAR')], E_base),
             'GSM8K-Backward SV only': diversity_gain(E_bw[:1000][is_t('GSM_SV')], E_base)}
    pools = {'AnsAug only (GSM8K CoT)': E_held, 'bootstrapped (CoT + FOBAR/SV, alternating)': _interleave([E_held[:1000], E_bw[:1000]])}
    rows = diversity_by_size(pools, E_base, [250, 500, 1000, 2000], vary='new')
    fixed_new = np.concatenate([E_held[1000:1270], E_bw[1000:]])   # 270 unseen CoT + the 270 unused backward
    pools_b = {'AnsAug only (GSM8K CoT)': E_base, 'bootstrapped (CoT + FOBAR/SV, alternating)': _interleave([E_base[:1000], E_bw[:1000]])}
    rows += diversity_by_size(pools_b, fixed_new, [250, 500, 1000, 2000], vary='base')
    plot_diversity_vs_size(rows, title='Diversity gain vs size (MiniLM, GSM8K train + GSM8K-Backward)')
    return dict(embedder='minilm', base_n=len(base_ix), texts=len(cot_all) + len(bw_all),
                d_gain={k: round(float(v), 4) for k,v in gains.items()},
                by_size=[{k: (round(float(v), 4) if isinstance(v, float) else v) for k,v in r.items()} for r in rows])

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--parts', default='perplexity,diversity')
    p.add_argument('--out', default=str(ROOT/'bench'/'results'/'analysis_real.json'))
    a = p.parse_args()
    out = Path(a.out)
    res = json.loads(out.read_text()) if out.exists() else {}
    res.update(cpus=ncpus(), machine=platform.machine(), date=time.strftime('%Y-%m-%d %H:%M'))
    gsm_tr, bw = load_data('gsm8k', 'train'), load_data('gsm8k_backward')
    for part in a.parts.split(','):
        t, c = time.time(), cpu_s()
        r = dict(perplexity=part_perplexity, diversity=part_diversity)[part](gsm_tr, bw)
        res[part] = dict(r, wall_s=round(time.time() - t, 1), cpu_s=round(cpu_s() - c, 1))
        write_json(out, res)
        print(part, json.dumps({k: v for k,v in res[part].items() if k != 'by_size'}, indent=1))
