"The scaled-out filter on Ray: datatrove's RayPipelineExecutor and Ray Data, each against the in-process filter (skipped only without ray)."
import contextlib, io, json, os, random
from pathlib import Path
import pytest

ray = pytest.importorskip('ray')

TESTS = {'gsm8k/test': ['Janet has 16 ducks that lay eggs every day, she eats three of them for breakfast and bakes muffins with four, '
                        'then sells the rest at the market for two dollars each. How many dollars does she make every day?']}
FILES = ['metamathqa.jsonl', 'dropped.jsonl', 'metamathqa.parquet']

def _cands(path, n=240):
    rnd = random.Random(1)
    with open(path, 'w') as f:
        for i in range(n):
            k = rnd.randrange(30); a, b = k % 9 + 2, k % 7 + 3
            body = f'Each box holds {b} apples and there are {a} boxes, so Tom has {a} * {b} = {a*b} apples in all the boxes together.'
            if rnd.random() < 0.2: body = body.replace('together', 'in total')
            q = f'Tom has {a} boxes with {b} apples in each box. How many apples does Tom have? (case {k})'
            if rnd.random() < 0.05: q = 'Please: ' + TESTS['gsm8k/test'][0]
            pred = a * b if rnd.random() > 0.25 else a * b + 1
            f.write(json.dumps(dict(query=q, response=f'{body}\nThe answer is: {pred}', type=rnd.choice(['GSM_AnsAug', 'GSM_SV']), gold=str(a * b))) + '\n')

def _report(d):
    return {k: v for k,v in json.loads((Path(d)/'filter_report.json').read_text()).items() if k not in ('wall_s', 'seconds', 'engine', 'workers', 'grading', 'dedup_bytes')}

def _same(a, b):
    return all((Path(a)/f).read_bytes() == (Path(b)/f).read_bytes() for f in FILES) and _report(a) == _report(b)

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    import metamath.filter as F
    from metamath.scaleout import make_plan
    tmp = tmp_path_factory.mktemp('scale'); _cands(tmp/'c.jsonl')
    old = F.Decontaminator
    F.Decontaminator = lambda tests=None, **kw: old(TESTS, **{k: v for k,v in kw.items() if k != 'data'})
    try:
        with contextlib.redirect_stdout(io.StringIO()): F.run_filter(inp=str(tmp/'c.jsonl'), out=str(tmp/'ref'), figure='')
    finally: F.Decontaminator = old
    os.environ['PYTHONPATH'] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get('PYTHONPATH', '')])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield tmp, lambda name: make_plan(str(tmp/'c.jsonl'), tmp/name, parts=4, tests=TESTS)
    ray.shutdown()

def test_ray_executor(setup):
    "datatrove's RayPipelineExecutor, 2 prepare tasks as Ray actors, then the merge: the in-process filter's files"
    from metamath.scaleout import executors, logs_dir
    tmp, plan = setup
    p = plan('ray')
    a, b = executors(p, tmp/'ray_out', 'ray', tasks=2, cpus_per_task=1, mem_per_cpu_gb=0.5)
    b.run()
    assert _same(tmp/'ref', tmp/'ray_out')
    assert sorted(x.name for x in (logs_dir(p)/'prepare'/'completions').iterdir()) == ['00000', '00001']

def test_ray_data(setup):
    "Ray Data: units prepared by 2 actors, merged in order by the driver: the in-process filter's files"
    from metamath.scaleout import run_ray_data
    tmp, plan = setup
    run_ray_data(plan('rd'), tmp/'rd_out', tasks=2)
    assert _same(tmp/'ref', tmp/'rd_out')
