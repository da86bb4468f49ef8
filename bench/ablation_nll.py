"""Cost of the ablation's test NLL (metamath.ablation.gold_nll) on this machine: per-token NLL of the first N GSM8K
test reference solutions under the Alpaca prompt, SmolLM2-135M-Instruct in float32, transformers in batches.
Prints a table and writes bench/results/ablation_nll.json (wall and CPU seconds, tokens scored per second, and the
projection to the full 1,319-question test for each model of the ablation)."""
import argparse, json, resource, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def cpu_s()->float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='smollm2'); ap.add_argument('--n', type=int, default=64)
    ap.add_argument('--batch_sizes', default='8,16'); ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'ablation_nll.json'))
    a = ap.parse_args()
    from metamath.ablation import gold_records, gold_nll, nll_summary
    from metamath.analysis import load_lm
    from metamath.data import write_json
    import torch
    recs = gold_records(limit=a.n); lm = load_lm(a.model); rows = []
    for bs in map(int, a.batch_sizes.split(',')):
        t0, c0 = time.time(), cpu_s()
        got = gold_nll(lm, recs, batch_size=bs)
        wall, cpu = time.time() - t0, cpu_s() - c0
        tok = sum(g['n_tokens'] for g in got)
        rows.append(dict(batch_size=bs, records=len(recs), scored_tokens=tok, wall_s=round(wall, 1), cpu_s=round(cpu, 1),
                         tokens_per_s=round(tok/wall, 1), nll=round(nll_summary(got)[0], 4),
                         full_test_wall_s=round(wall*1319/len(recs), 0)))
    print('| batch | records | scored tokens | wall s | CPU s | scored tokens/s | NLL | full test (1,319), s |\n|---|---|---|---|---|---|---|---|')
    for r in rows: print(f"| {r['batch_size']} | {r['records']} | {r['scored_tokens']} | {r['wall_s']} | {r['cpu_s']} | {r['tokens_per_s']} | {r['nll']} | {r['full_test_wall_s']:.0f} |")
    write_json(a.out, dict(model=a.model, threads=torch.get_num_threads(), rows=rows), indent=1)
