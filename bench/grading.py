"""Answers graded per second: `metamath.answers` serial and on all cores, math-verify called directly, plain Hendrycks.

Pairs are real: each MATH-500 and GSM8K-test gold answer against a reformatted copy (`reformat_answer`, should be
equal) and against the next row's gold (should differ unless Hendrycks-normalised strings agree: `x=5` vs `5`).

    .venv/bin/python bench/grading.py            # prints a table, writes bench/results/grading.json
    .venv/bin/python bench/grading.py --limit 50 # a quick run
"""
import argparse, logging, platform, time
from pathlib import Path
from metamath.data import load_data, ncpus, write_json
from metamath.answers import grade_batch, reformat_answer, strip_string

def pairs(limit=None):
    "(pred, gold, should_match) for MATH-500 and GSM8K test"
    out = []
    for name in ('math500', 'gsm8k'):
        golds = [r['answer'] for r in load_data(name, 'test', limit=limit)]
        out += [(reformat_answer(g, i), g, True) for i,g in enumerate(golds)]
        out += [(h, g, strip_string(h) == strip_string(g)) for g,h in zip(golds, golds[1:] + golds[:1])]  # `x=5` is `5`
    return out

def mv_direct(ps, gs):
    "math-verify as its README shows it: `verify(parse(gold), parse(pred))`, its signal timeouts on"
    from math_verify import parse, verify
    return [verify(parse(f'\\boxed{{{g}}}'), parse(f'\\boxed{{{p}}}')) for p,g in zip(ps, gs)]

def timed(f):
    t = time.perf_counter(); r = f(); return r, time.perf_counter() - t

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--limit', type=int, default=None); args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    ps,gs,want = zip(*pairs(args.limit))
    runs = {
        'ours, 1 process': lambda: grade_batch(ps, gs, workers=1),
        f'ours, {ncpus()} processes': lambda: grade_batch(ps, gs),
        'math-verify direct': lambda: mv_direct(ps, gs),
        'plain Hendrycks': lambda: [strip_string(p) == strip_string(g) for p,g in zip(ps, gs)],
    }
    rows = []
    for name,f in runs.items():
        got,secs = timed(f)
        rows.append(dict(grader=name, pairs=len(ps), seconds=round(secs, 2), per_second=round(len(ps)/secs),
                         agree=sum(a == b for a,b in zip(got, want)),
                         missed_equal=sum(w and not a for a,w in zip(got, want)), false_equal=sum(a and not w for a,w in zip(got, want))))
    w = max(len(r['grader']) for r in rows)
    print(f"{'grader':<{w}}  pairs  seconds  per_second  agree  missed_equal  false_equal")
    for r in rows:
        print(f"{r['grader']:<{w}}  {r['pairs']:>5}  {r['seconds']:>7}  {r['per_second']:>10}  {r['agree']:>5}  {r['missed_equal']:>12}  {r['false_equal']:>11}")
    out = Path(__file__).parent/'results'/'grading.json'; out.parent.mkdir(exist_ok=True)
    write_json(out, dict(cpus=ncpus(), machine=platform.machine(), python=platform.python_version(),
                                   limit=args.limit, results=rows), indent=1)
    print(f'wrote {out}')
