"""The demo's wall time: `make demo` timed in a clone whose venv is already made (`make setup` is not part of it),
with the per-stage times its run recorded. Writes bench/results/demo.json (of this checkout).

    git clone -b BRANCH REPO /tmp/fresh && make -C /tmp/fresh setup      # once, not timed
    python bench/demo.py --clone /tmp/fresh                               # a fresh clone: no runs/ yet
    python bench/demo.py --clone . --cmd "metamath demo --out /tmp/d1"    # iterate in a working tree
"""
import json, os, platform, shlex, subprocess, sys, time
from pathlib import Path
from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parents[1]
STAGES = ['bootstrap', 'eval_base', 'filter', 'analyse', 'finetune_student', 'eval_student']


def stage_times(run:Path)->dict:
    "seconds, and what each stage generated, from every `STAGE/done.json` of a run folder"
    out = {}
    for st in STAGES:
        f = run/st/'done.json'
        if not f.exists(): continue
        d = json.loads(f.read_text()); r = d['result']; row = dict(seconds=d['seconds'], finished=d['finished'])
        if st == 'bootstrap':
            t = [v['totals'] for v in r.values()]
            row |= dict(generated=sum(x['generated'] for x in t), output_tokens=sum(x['output_tokens'] for x in t))
        if st.startswith('eval_'):
            g = [v['generation'] for v in r.values()]
            row |= dict(output_tokens=sum(x['output_tokens'] for x in g), generation_s=round(sum(x['wall_s'] for x in g), 1))
        if st.startswith('finetune_'): row |= dict(steps=r['steps'], tok_per_s=round(r['tok_per_s'], 1))
        out[st] = row
    return out


@call_parse
def main(clone:str='.',               # the checkout to run in (a fresh clone for the goal's number)
         cmd:str='make demo',         # the command timed
         run:str='runs/demo',         # the run folder it writes, relative to `clone`
         out:str='bench/results/demo.json'): # relative to this checkout
    "Time the demo command in `clone` and write its wall time and per-stage times"
    from metamath.generate import cpu_bf16
    clone = Path(clone).resolve()
    fresh = not (clone/run).exists()
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=clone, capture_output=True, text=True).stdout.strip()
    load0, t0 = os.getloadavg()[0], time.time()
    p = subprocess.run(cmd, shell=True, cwd=clone)
    wall = time.time() - t0
    if p.returncode: sys.exit(f'{cmd} failed (exit {p.returncode}) in {clone}')
    rundir = clone/run if (clone/run).exists() else Path(shlex.split(cmd)[-1])/'demo'
    res = dict(wall_s=round(wall, 1), goal_s=600, met=wall <= 600, command=cmd, clone=str(clone), fresh_clone=fresh,
               commit=commit, stages=stage_times(rundir), cpus=os.cpu_count(), machine=platform.machine(),
               cpu_bf16=cpu_bf16(), load_avg_1m_before=round(load0, 2), load_avg_1m_after=round(os.getloadavg()[0], 2),
               date=time.strftime('%Y-%m-%d %H:%M', time.gmtime(t0)) + ' UTC')
    res['stages_s'] = round(sum(s['seconds'] for s in res['stages'].values()), 1)
    (ROOT/out).parent.mkdir(parents=True, exist_ok=True)
    (ROOT/out).write_text(json.dumps(res, indent=1) + '\n')
    print(json.dumps(res, indent=1))
