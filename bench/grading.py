"""The grader against math-verify: accuracy class by class on our own tricky cases, and answers graded per second.

Accuracy: the 170 cases of `bench/grader_cases.jsonl` (128 bare answers, 42 whole model outputs), each through
`metamath.answers` (`extract_answer` then `is_equiv` for prose), math-verify alone (`verify(parse(gold), parse(pred))`,
both `$`-wrapped, or its own extraction from the prose) and plain Hendrycks.

Speed: real pairs, each MATH-500 and GSM8K-test gold against a reformatted copy (`reformat_answer`, should be equal)
and against the next row's gold (should differ unless Hendrycks-normalised strings agree: `x=5` vs `5`); plus the
pairs only sympy can decide, alone (`symbolic`), to time the sidecar: one at a time as `is_equiv` calls it, then
`grade_batch` (one sidecar, or its persistent pool), then the same pairs repeated 5 times as a filter sees them (distinct pairs checked once).

    .venv/bin/python bench/grading.py            # prints two tables, writes bench/results/grading.json
    .venv/bin/python bench/grading.py --limit 50 # a quick run
"""
import argparse, json, logging, platform, time
from collections import Counter
from pathlib import Path
from metamath.data import load_data, ncpus, write_json
import metamath.answers as A
from metamath.answers import extract_answer, grade_batch, is_equiv, reformat_answer, strip_string

CASES = Path(__file__).parent/'grader_cases.jsonl'

def pairs(limit=None):
    "(pred, gold, should_match) for MATH-500 and GSM8K test"
    out = []
    for name in ('math500', 'gsm8k'):
        golds = [r['answer'] for r in load_data(name, 'test', limit=limit)]
        out += [(reformat_answer(g, i), g, True) for i,g in enumerate(golds)]
        out += [(h, g, strip_string(h) == strip_string(g)) for g,h in zip(golds, golds[1:] + golds[:1])]  # `x=5` is `5`
    return out

def mv_direct(ps, gs, prose=None):
    "math-verify as its README shows it: `verify(parse(gold), parse(pred))`, its signal timeouts on"
    from math_verify import parse, verify
    def one(p, g, pr):
        try: return bool(verify(parse(f'${g}$'), parse(p if pr else f'${p}$')))
        except Exception: return False
    return [one(p, g, pr) for p,g,pr in zip(ps, gs, prose or [False]*len(ps))]

def accuracy():
    "Per class: cases, and how many each grader gets right"
    cases = [json.loads(l) for l in CASES.read_text().splitlines() if l.strip()]
    ex = [extract_answer(c['pred']).answer if c['prose'] else c['pred'] for c in cases]
    ours = [is_equiv(a, c['gold']) for a,c in zip(ex, cases)]
    mv = mv_direct([c['pred'] for c in cases], [c['gold'] for c in cases], [c['prose'] for c in cases])
    hen = [a is not None and strip_string(a) == strip_string(c['gold']) for a,c in zip(ex, cases)]
    rows = {}
    for c,o,m,h in zip(cases, ours, mv, hen):
        for k in (c['cls'], 'all bare' if not c['prose'] else 'all prose'):
            r = rows.setdefault(k, Counter(cls=0)); r['cases'] += 1
            r['ours'] += o == c['right']; r['math_verify'] += m == c['right']; r['hendrycks'] += h == c['right']
    return [dict(cls=k, cases=v['cases'], ours=v['ours'], math_verify=v['math_verify'], hendrycks=v['hendrycks']) for k,v in rows.items()]

def timed(f):
    t = time.perf_counter(); r = f(); return r, time.perf_counter() - t

def speed(limit):
    "pairs/s of each grader on the real pairs, and of the sidecar on the pairs only sympy decides"
    ps,gs,want = zip(*pairs(limit))
    hard = [(p, g, w) for p,g,w in zip(ps, gs, want) if A._cheap(p, g) is None]
    hp,hg,hw = zip(*hard)
    def fresh(f):  # each run starts with an empty verdict cache (the pool and sidecar stay up, as in a long job)
        def run(): A._SYM_CACHE.clear(); return f()
        return run
    A.sidecar_pool(ncpus()).check_many([('1', '1')]); A.sidecar().check('1', '1')   # start the children outside the timings
    runs = [('all', 'ours, 1 process', fresh(lambda: grade_batch(ps, gs, workers=1)), want),
            ('all', f'ours, {ncpus()} processes', fresh(lambda: grade_batch(ps, gs)), want),
            ('all', 'math-verify direct', lambda: mv_direct(ps, gs), want),
            ('all', 'plain Hendrycks', lambda: [strip_string(p) == strip_string(g) for p,g in zip(ps, gs)], want),
            ('symbolic', 'ours, sidecar one at a time', fresh(lambda: [is_equiv(p, g) for p,g in zip(hp, hg)]), hw),
            ('symbolic', 'ours, grade_batch', fresh(lambda: grade_batch(hp, hg)), hw),
            ('symbolic', f'ours, grade_batch (pool of {ncpus()})', fresh(lambda: grade_batch(hp, hg, pool=True)), hw),
            ('symbolic', 'math-verify direct', lambda: mv_direct(hp, hg), hw),
            ('symbolic x5', 'ours, grade_batch', fresh(lambda: grade_batch(hp*5, hg*5)), hw*5),
            ('symbolic x5', f'ours, grade_batch (pool of {ncpus()})', fresh(lambda: grade_batch(hp*5, hg*5, pool=True)), hw*5),
            ('symbolic x5', 'math-verify direct', lambda: mv_direct(hp*5, hg*5), hw*5)]
    rows = []
    for subset,name,f,w in runs:
        got,secs = timed(f)
        rows.append(dict(pairs=subset, grader=name, n=len(w), seconds=round(secs, 2), per_second=round(len(w)/secs),
                         ms_per_pair=round(1000*secs/len(w), 3), agree=sum(a == b for a,b in zip(got, w)),
                         missed_equal=sum(b and not a for a,b in zip(got, w)), false_equal=sum(a and not b for a,b in zip(got, w))))
    return rows

def show(rows):
    keys = list(rows[0]); w = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print('  '.join(f'{k:<{w[k]}}' for k in keys))
    for r in rows: print('  '.join(f'{str(r[k]):<{w[k]}}' for k in keys))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--limit', type=int, default=None); args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    acc = accuracy(); show(acc); print()
    sp = speed(args.limit); show(sp)
    out = Path(__file__).parent/'results'/'grading.json'; out.parent.mkdir(exist_ok=True)
    write_json(out, dict(cpus=ncpus(), machine=platform.machine(), python=platform.python_version(), limit=args.limit,
                         accuracy=acc, results=sp), indent=1)
    print(f'wrote {out}')
