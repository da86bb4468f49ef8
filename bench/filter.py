"""`metamath filter` at 10K, 100K, 400K and 1.6M candidates: wall time, peak memory, kept, seconds per stage.

Candidates are synthetic but built from the real GSM8K and MATH training questions in the bootstrap's record shape:
AnsAug on the question, Rephrased on a reworded question, SV and FOBAR on `mask_numbers`' masked question (the
bootstrap's own masking), responses from the reference solutions. Candidate i is sample i // Q of question i % Q
(Q = 14,973 questions), so each size is a prefix of the largest and duplicates grow with the samples per question,
as they do when `k` grows. Each sample is one of a few rewordings (exact duplicates when two samples draw the same),
3% are one-word edits of another sample (near duplicates), 20% of GSM8K and 45% of MATH answers are wrong (the paper's
yields), 2% are cut at max_tokens and 2% end without an answer line of their own.

The file is built once and cached outside the repo (default /work/cache/filter-bench/). Timed runs go one at a time:

    flock /tmp/mm-cpu.lock .venv/bin/python bench/filter.py                      # all sizes, 1 and all workers
    .venv/bin/python bench/filter.py --sizes 10000 --compare                        # new kept set vs the old filter
"""
import argparse, json, os, random, re, subprocess, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from metamath.data import load_data, ncpus, write_json

METHODS = ['AnsAug', 'Rephrased', 'SV', 'FOBAR']
OPENERS = ['', "Let's think step by step.\n", 'We work it out.\n', 'First, read the problem carefully.\n', 'Here is the solution.\n', 'Step by step:\n']
REWORD = ['', 'Please answer: ', 'Question: ', 'Can you solve this? ', 'Consider the following. ']

def questions():
    "Training records of GSM8K and MATH with a reference solution, a gold answer and one masking"
    from metamath.masking import mask_numbers
    from metamath.formats import metamath_response
    out = []
    for ds, var in (('gsm8k', 'x'), ('math', 'X')):
        for r in load_data(ds, 'train'):
            if r['answer'] is None: continue
            try: m = mask_numbers(r['question'], var)
            except Exception: m = []
            out.append(dict(r, cot=metamath_response(r), mask=m[len(m) // 2] if m else None, var=var))
    return out

def wrong(gold, kind, rnd):
    if kind == 'gsm8k' and re.fullmatch(r'-?\d+', gold): return str(int(gold) + rnd.randint(1, 9))
    return rnd.choice([f'{gold}+1', f'2{gold}', f'\\frac{{1}}{{{gold}}}', f'-{gold}', '7'])

def candidate(i, qs):
    "Candidate i: sample i // Q of question i % Q, in the bootstrap's record shape"
    rec = qs[i % len(qs)]; s = i // len(qs); method = METHODS[s % 4]; j = s // 4
    rnd = random.Random(i)
    pre = 'GSM' if rec['source'] == 'gsm8k' else 'MATH'; kind = rec['source']
    q, gold, body = rec['question'], rec['answer'], rec['cot'].rsplit('\nThe answer is:', 1)[0]
    if method == 'Rephrased': q = REWORD[1 + j % 4] + q
    elif method in ('SV', 'FOBAR') and rec['mask']:
        masked, gold = rec['mask']
        q = (f"{masked}\nIf we know the answer to the above question is {rec['answer']}, what is the value of unknown variable {rec['var']}?"
             if method == 'FOBAR' else f"{masked} The answer is {rec['answer']}. What is the value of unknown variable {rec['var']}?")
        body = f"{body}\nSo the unknown variable {rec['var']} is {gold}."
    elif method in ('SV', 'FOBAR'): method = 'AnsAug'
    body = OPENERS[rnd.randrange(len(OPENERS))] + body
    if rnd.random() < 0.03:                                   # a one-word edit of another sample: a near duplicate
        body = body.replace(' the ', ' this ', 1) if ' the ' in body else body + ' Done.'
    ok = rnd.random() >= (0.2 if kind == 'gsm8k' else 0.45)
    pred = gold if ok else wrong(gold, kind, rnd)
    fin, rule = 'stop', 'boxed' if kind == 'math' else 'answer_is'
    u = rnd.random()
    if u < 0.02: fin, resp = 'length', body[: max(20, len(body) // 2)]
    elif u < 0.04: rule, resp = 'last_number', f'{body}\nSo we get {pred}.'
    else: resp = f'{body}\nThe answer is: {pred}'
    return dict(query=q, response=resp, type=f'{pre}_{method}', original_question=rec['question'], gold=str(gold), pred=pred,
                correct=ok and fin != 'length' and rule != 'last_number', method=method, source_id=rec['id'], teacher='synthetic',
                sampling=dict(temperature=0.7, top_p=1.0, max_tokens=512, k=4), prompt_hash=f'{i % len(qs):08x}', seed=0,
                sample=j, finish_reason=fin, answer_rule=rule)

def build(n, path):
    "The first `n` candidates in `path` (built once; a larger file serves every smaller size)"
    path, count = Path(path), Path(f'{path}.rows')
    if path.exists() and count.exists() and int(count.read_text()) >= n: return path
    qs = questions(); path.parent.mkdir(parents=True, exist_ok=True)
    with open(f'{path}.tmp', 'w') as f:
        for i in range(n): f.write(json.dumps(candidate(i, qs)) + '\n')
    os.replace(f'{path}.tmp', path); count.write_text(str(n)); return path

def head(src, n, dst):
    if not Path(dst).exists():
        with open(src, 'rb') as f, open(f'{dst}.tmp', 'wb') as g:
            for _, line in zip(range(n), f): g.write(line)
        os.replace(f'{dst}.tmp', dst)
    return dst

RUN = r'''
import json, re, resource, sys, time
t = time.perf_counter()
from metamath.filter import filter_cli
df = filter_cli(inp=sys.argv[1], out=sys.argv[2], figure='', workers=int(sys.argv[3]))
hwm = int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read())[1]) // 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
ru, rc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps(dict(wall_s=round(time.perf_counter() - t, 1), cpu_s=round(ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime, 1),
                      peak_rss_mib=hwm, worker_peak_rss_mib=kids, kept=int(df.kept.sum()))))
'''

def run(inp, out, workers):
    "One `filter_cli` run in a fresh process: its numbers and the report's seconds per stage"
    p = subprocess.run([sys.executable, '-c', RUN, str(inp), str(out), str(workers)], capture_output=True, text=True,
                       env={**os.environ, 'PYTHONPATH': str(ROOT)})
    if p.returncode: sys.exit(p.stderr[-3000:])
    r = json.loads(p.stdout.strip().splitlines()[-1]); rep = json.loads((Path(out)/'filter_report.json').read_text())
    return dict(r, seconds=rep['seconds'], grading=rep['grading'], dedup_bytes=rep['dedup_bytes'], near_index=rep['near_index'])

def compare(inp, out):
    "Kept sets of the filter before issue 16 (git main's filter.py) and now, on the same input"
    import importlib.util, subprocess as sp
    Path(out).mkdir(parents=True, exist_ok=True); old = Path(out)/'old_filter.py'
    old.write_text(sp.run(['git', '-C', str(ROOT), 'show', 'main:metamath/filter.py'], capture_output=True, text=True, check=True).stdout)
    spec = importlib.util.spec_from_file_location('metamath._old_filter', old); m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    from metamath.data import read_jsonl
    t = time.perf_counter(); m.filter_cli(inp=str(inp), out=str(Path(out)/'old'), figure=''); t_old = time.perf_counter() - t
    new = run(inp, Path(out)/'new', 1)
    key = lambda r: (r['source_id'], r['type'], r['sample'], r['query'])     # a candidate's identity, whatever its response became
    a, b = [key(r) for r in read_jsonl(Path(out)/'old'/'metamathqa.jsonl')], [key(r) for r in read_jsonl(Path(out)/'new'/'metamathqa.jsonl')]
    why = {key(r): r['dropped'] for r in read_jsonl(Path(out)/'new'/'dropped.jsonl')}
    why_old = {key(r): r['dropped'] for r in read_jsonl(Path(out)/'old'/'dropped.jsonl')}
    sa, sb = set(a), set(b)
    diff = dict(old_kept=len(a), new_kept=len(b), same_order=a == b, both=len(sa & sb),
                only_old={}, only_new={})
    for k in sa - sb: diff['only_old'][why.get(k, '?')] = diff['only_old'].get(why.get(k, '?'), 0) + 1
    for k in sb - sa: diff['only_new'][why_old.get(k, '?')] = diff['only_new'].get(why_old.get(k, '?'), 0) + 1
    return dict(diff, old_wall_s=round(t_old, 1), new_wall_s=new['wall_s'])

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', default='10000,100000,400000,1600000')
    ap.add_argument('--workers', default=f'1,{ncpus()}')
    ap.add_argument('--cache', default='/work/cache/filter-bench')
    ap.add_argument('--compare', action='store_true', help='kept set against the old filter on the first size')
    ap.add_argument('--compare-input', default=None, help='candidates for --compare (default: the first size)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'filter.json'))
    a = ap.parse_args()
    sizes, cache = [int(s) for s in a.sizes.split(',')], Path(a.cache)
    full = build(max(sizes), cache/f'candidates_{max(sizes)}.jsonl')
    res = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else {}
    runs = {(r['candidates'], r['workers']): r for r in res.get('runs', [])}
    if a.compare:
        inp = a.compare_input or head(full, sizes[0], cache/f'candidates_{sizes[0]}.jsonl')
        res['compare_old'] = dict(input=str(inp), candidates=sum(1 for _ in open(inp, 'rb')), **compare(inp, cache/f'compare_{Path(inp).stem}'))
        print(json.dumps(res['compare_old'], indent=1))
    else:
        for n in sizes:
            inp = head(full, n, cache/f'candidates_{n}.jsonl')
            for w in [int(x) for x in a.workers.split(',')]:
                r = dict(candidates=n, workers=w, **run(inp, cache/f'out_{n}_{w}', w))
                r['bytes_per_candidate'] = round(r['dedup_bytes'] / n, 1)
                runs[(n, w)] = r
                print(f"{n:>9,} candidates  workers {w}  {r['wall_s']:>7.1f} s  {r['peak_rss_mib']:>6,} MiB  kept {r['kept']:>9,}  "
                      f"dedup state {r['bytes_per_candidate']} B/candidate  {r['seconds']}", flush=True)
                res['runs'] = sorted(runs.values(), key=lambda r: (r['candidates'], r['workers']))
                write_json(a.out, dict(res, machine=dict(cpus=ncpus(), python=sys.version.split()[0])), indent=1)
    write_json(a.out, dict(res, machine=dict(cpus=ncpus(), python=sys.version.split()[0])), indent=1)
