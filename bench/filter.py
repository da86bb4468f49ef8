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
    .venv/bin/python bench/filter.py --minhash                                      # MinHash implementations, texts/s
    .venv/bin/python bench/filter.py --cache-resume                                 # load_cache on a 1M-row cache
    flock /tmp/mm-long.lock nice -n 19 .venv/bin/python bench/filter.py --sizes 1600000 --workers 2

`goals` compares the runs with the issue's targets (100K in <= 50 s and <= 1 GiB; 1.6M in <= 15 min and <= 4 GiB;
time per candidate at least 3x better than the issue's measurement of the filter before it, at every size).
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

OLD_REF = 'ff64e27'   # the filter this one is compared with: main before this round (the streaming filter of the first round)
BASELINE = {10_000: 32, 100_000: 158, 400_000: 562}    # issue 16's table: seconds of the filter before it
GOALS = {100_000: (50, 1024), 1_600_000: (15 * 60, 4096)}

def goals(runs):
    "Each goal with what was measured (the best run of that size) and whether it is met"
    best = {}
    for r in runs:
        if r['candidates'] not in best or r['wall_s'] < best[r['candidates']]['wall_s']: best[r['candidates']] = r
    out = {}
    for n,(s, mib) in GOALS.items():
        r = best.get(n)
        out[f'{n:,} candidates: <= {s} s and <= {mib} MiB'] = dict(measured=r and dict(wall_s=r['wall_s'], cpu_s=r['cpu_s'], peak_rss_mib=r['peak_rss_mib'], workers=r['workers']),
                                                                met=bool(r) and r['wall_s'] <= s and r['peak_rss_mib'] <= mib)
    per = 562 / 400_000                                   # the baseline's time per candidate from 400K on (linear)
    for n,r in sorted(best.items()):
        base = BASELINE.get(n, per * n) / n
        out[f'{n:,} candidates: time per candidate <= 1/3 of the baseline'] = dict(
            measured=dict(ms_per_candidate=round(1000 * r['wall_s'] / n, 3), baseline_ms=round(1000 * base, 3), speedup=round(base * n / r['wall_s'], 2)),
            met=r['wall_s'] / n <= base / 3)
    low = {}                                              # the state's size does not depend on the workers: the latest code's run is the smallest
    for r in runs: low[r['candidates']] = min(low.get(r['candidates'], 1e9), r['bytes_per_candidate'])
    out['dedup state <= 200 bytes per candidate (at the largest size run)'] = dict(measured={f'{n:,}': b for n,b in sorted(low.items())},
                                                                                 met=bool(low) and low[max(low)] <= 200)
    return out

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
    old.write_text(sp.run(['git', '-C', str(ROOT), 'show', f'{OLD_REF}:metamath/filter.py'], capture_output=True, text=True, check=True).stdout)
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

def minhash_bench(inp, n=20_000, num_perm=128):
    "Texts/s of each MinHash implementation on the responses of the first `n` candidates (one process, 128 permutations)"
    import numpy as np, importlib.util, subprocess as sp, tempfile
    from metamath.filter import MinHasher, shingles
    texts = [json.loads(l)['response'] for _, l in zip(range(n), open(inp))]
    out, gr = {}, [[g.encode() for g in shingles(t)] for t in texts]
    def timed(name, f, what):
        t = time.perf_counter(); f(); s = time.perf_counter() - t
        out[name] = dict(seconds=round(s, 2), texts_per_s=round(len(texts) / s), includes=what); print(name, out[name], flush=True)
    timed('numpy MinHasher (this filter)', lambda: MinHasher(num_perm)(texts), 'tokenising, 3-gram hashing, signatures')
    old = Path(tempfile.mkdtemp())/'old_filter.py'
    old.write_text(sp.run(['git', '-C', str(ROOT), 'show', f'{OLD_REF}:metamath/filter.py'], capture_output=True, text=True, check=True).stdout)
    spec = importlib.util.spec_from_file_location('metamath._old_filter', old); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    timed('sha1 + numpy MinHasher (the filter before)', lambda: m.MinHasher(num_perm)(texts), 'tokenising, sha1 per 3-gram, signatures')
    try: import rensa                                    # optional: `pip install rensa` to measure it
    except ImportError: rensa = None; out['rensa'] = 'not installed'
    if rensa:
        strs = [[g.decode() for g in x] for x in gr]
        def rens():
            for g in strs: h = rensa.RMinHash(num_perm=num_perm, seed=1); h.update(g); h.digest()
        timed('rensa RMinHash', rens, '3-grams given (tokenising not timed), hashing in Rust')
        def rens_all():
            for t in texts: h = rensa.RMinHash(num_perm=num_perm, seed=1); h.update(list(shingles(t))); h.digest()
        timed('rensa RMinHash with 3-gram strings built', rens_all, 'tokenising and 3-gram strings in Python, hashing in Rust')
    from datasketch import MinHash, LeanMinHash
    timed('datasketch MinHash.bulk', lambda: MinHash.bulk(gr, num_perm=num_perm, seed=1), '3-grams given (tokenising not timed), sha1 per 3-gram')
    timed('datasketch MinHash per text (the filter of the issue)', lambda: [MinHash(num_perm=num_perm, seed=1).update_batch(g) for g in gr[:2000]], '3-grams given, first 2,000 texts only')
    out['datasketch MinHash per text (the filter of the issue)']['texts_per_s'] = round(min(2000, len(texts)) / out['datasketch MinHash per text (the filter of the issue)']['seconds'])
    return dict(texts=len(texts), num_perm=num_perm, implementations=out)

def numeric_check(inp):
    "On every graded pair of `inp` the exact steps leave: does math-verify agree wherever `differ_numerically` decides?"
    from metamath.answers import _cheap, _rhs, _unwrap, is_equiv
    from metamath.filter import _extract, differ_numerically, keep_rule
    from metamath.data import iter_records
    left = {}
    for r in iter_records(inp, need=('query', 'response', 'type')):
        e = _extract(r)
        if keep_rule(r, e) is None and _cheap(e.answer, r['gold']) is None: left[(_rhs(_unwrap(str(e.answer))), _rhs(_unwrap(str(r['gold']))))] = 1
    t = time.perf_counter(); dec = [k for k in left if differ_numerically(*k) is False]; t_num = time.perf_counter() - t
    t = time.perf_counter(); wrong = [k for k in dec if is_equiv(*k)]; t_mv = time.perf_counter() - t
    return dict(input=str(inp), distinct_pairs_left_by_exact_steps=len(left), decided_unequal=len(dec), math_verify_says_equal=len(wrong),
                examples_disagreeing=wrong[:10], numeric_ms_per_pair=round(1000 * t_num / max(len(left), 1), 3),
                math_verify_ms_per_pair=round(1000 * t_mv / max(len(dec), 1), 1))

def cache_resume(cache, rows=1_000_000):
    "Seconds and peak memory for `Generator.load_cache` to index a `rows`-row generation cache with a torn last line"
    path = Path(cache)/f'gen_cache_{rows}.jsonl'
    if not path.exists():
        from metamath.data import JsonlWriter
        body = 'Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May.\nThe answer is: 72 '
        with JsonlWriter(f'{path}.tmp') as w:
            for i in range(rows): w.f.write(json.dumps(dict(key=f'{i // 4:012x}-{i % 4}', text=body * (1 + i % 4), finish_reason='stop', prompt_tokens=120,
                                                            completion_tokens=90, index=i % 4, job='bench')) + '\n')
        os.replace(f'{path}.tmp', path)
    with open(path, 'a') as f: f.write('{"key": "torn')                   # a killed run's last line
    code = ('import json, re, sys, time\nt = time.perf_counter()\nfrom metamath.generate import Generator\nt1 = time.perf_counter()\n'
            'g = Generator(None, cache=sys.argv[1]); s = g.load_cache(); t2 = time.perf_counter()\nx = s[next(iter(s))]\n'
            'hwm = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) // 1024\n'
            'print(json.dumps(dict(rows=len(s), load_cache_s=round(t2 - t1, 2), import_s=round(t1 - t, 2), peak_rss_mib=hwm)))')
    p = subprocess.run([sys.executable, '-c', code, str(path)], capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    if p.returncode: sys.exit(p.stderr[-3000:])
    return dict(json.loads(p.stdout.strip().splitlines()[-1]), file_mib=round(path.stat().st_size / 2**20), goal_s=5)

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', default='10000,100000,400000,1600000')
    ap.add_argument('--workers', default=f'1,{ncpus()}')
    ap.add_argument('--cache', default='/work/cache/filter-bench')
    ap.add_argument('--compare', action='store_true', help='kept set against the old filter on the first size')
    ap.add_argument('--compare-input', default=None, help='candidates for --compare (default: the first size)')
    ap.add_argument('--minhash', action='store_true', help='MinHash implementations on the first 20K responses')
    ap.add_argument('--cache-resume', action='store_true', help='load_cache on a 1M-row generation cache')
    ap.add_argument('--numeric-check', action='store_true', help='differ_numerically against math-verify on the first size')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'filter.json'))
    a = ap.parse_args()
    sizes, cache = [int(s) for s in a.sizes.split(',')], Path(a.cache)
    full = build(max(sizes), cache/f'candidates_{max(sizes)}.jsonl')
    res = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else {}
    runs = {(r['candidates'], r['workers']): r for r in res.get('runs', [])}
    if a.minhash:
        res['minhash'] = minhash_bench(head(full, sizes[0], cache/f'candidates_{sizes[0]}.jsonl'))
    elif a.numeric_check:
        res['numeric_check'] = numeric_check(head(full, sizes[0], cache/f'candidates_{sizes[0]}.jsonl')); print(res['numeric_check'])
    elif a.cache_resume:
        res['cache_resume'] = cache_resume(cache); print(res['cache_resume'])
    elif a.compare:
        inp = a.compare_input or head(full, sizes[0], cache/f'candidates_{sizes[0]}.jsonl')
        n_in = sum(1 for _ in open(inp, 'rb')); res[f'compare_old_{n_in}'] = dict(input=str(inp), candidates=n_in, **compare(inp, cache/f'compare_{Path(inp).stem}'))
        print(json.dumps(res[f'compare_old_{n_in}'], indent=1))
    else:
        for n in sizes:
            inp = head(full, n, cache/f'candidates_{n}.jsonl')
            for w in [int(x) for x in a.workers.split(',')]:
                r = dict(candidates=n, workers=w, **run(inp, cache/f'out_{n}_{w}', w))
                r['bytes_per_candidate'] = round(r['dedup_bytes'] / n, 1)
                runs[(n, w)] = r
                print(f"{n:>9,} candidates  workers {w}  {r['wall_s']:>7.1f} s  {r['peak_rss_mib']:>6,} MiB  kept {r['kept']:>9,}  "
                      f"dedup state {r['bytes_per_candidate']} B/candidate  {r['seconds']}", flush=True)
                res['runs'] = sorted(runs.values(), key=lambda r: (r['candidates'], r['workers'])); res['goals'] = goals(res['runs'])
                if res.get('runs'): res['goals'] = goals(res['runs'])
    write_json(a.out, dict(res, machine=dict(cpus=ncpus(), python=sys.version.split()[0])), indent=1)
    if res.get('runs'): res['goals'] = goals(res['runs'])
    write_json(a.out, dict(res, machine=dict(cpus=ncpus(), python=sys.version.split()[0])), indent=1)
