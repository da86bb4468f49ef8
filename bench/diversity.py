"""Benchmark `metamath.analysis.nearest_sq_dist`, the nearest-neighbour search behind the diversity gain.

Random 384-d float32 vectors (MiniLM's width) for D_base (N) and D_new (M); for each case: wall time, the matrix
throughput, the peak working memory the search allocates (tracemalloc: numpy reports its buffers to it), and the
growth of the process's peak RSS (Linux `VmHWM`, reset per case through `/proc/self/clear_refs`). The small case is
also checked against the plain full-matrix computation on a slice.

    python bench/diversity.py                       # the two paper-sized cases, chunk 4096
    python bench/diversity.py --cases 2000x1000 --out /tmp/d.json   # a quick smoke run
"""
import os, platform, time, tracemalloc
import numpy as np
from fastcore.script import call_parse
from metamath.analysis import nearest_sq_dist
from metamath.data import ncpus, write_json

def _hwm_mib()->float:
    "Peak resident set size of this process so far (MiB), or NaN where /proc is missing"
    try: return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))/1024
    except (OSError, StopIteration): return float('nan')

def _reset_hwm():
    try: open('/proc/self/clear_refs', 'w').write('5')
    except OSError: pass

def _unit(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)

def run_case(N:int, M:int, d:int=384, chunk:int=4096, seed:int=0)->dict:
    "Time and memory of one search of M new vectors against N base vectors"
    rng = np.random.default_rng(seed)
    base,new = _unit(rng, N, d),_unit(rng, M, d)
    _reset_hwm(); rss0 = _hwm_mib()
    tracemalloc.start()
    t = time.perf_counter(); d2 = nearest_sq_dist(new, base, chunk=chunk); secs = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    row = dict(N=N, M=M, d=d, chunk=chunk, seconds=round(secs, 2), gflops=round(2*N*M*(d+1)/secs/1e9, 1),
               peak_alloc_mib=round(peak/2**20, 1), rss_growth_mib=round(_hwm_mib() - rss0, 1),
               full_matrix_mib=round(N*M*4/2**20), d_gain=float(d2.mean()))
    if N*M <= 15_000*20_000:   # check a slice against the full-matrix computation
        k = min(M, 500)
        full = (new[:k]**2).sum(1)[:, None] + (base**2).sum(1)[None] - 2*new[:k] @ base.T
        row['max_abs_err_vs_full'] = float(np.abs(np.maximum(full.min(1), 0) - d2[:k]).max())
    return row

@call_parse
def main(cases:str='15000x20000,400000x20000', # comma list of NxM (base x new)
         chunk:int=4096,                        # block side of the search
         out:str='bench/results/diversity.json'): # where the JSON goes
    "Print a table of time and memory per case and write it as JSON"
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    rows = [run_case(*map(int, c.split('x')), chunk=chunk) for c in cases.split(',')]
    cols = ['N', 'M', 'chunk', 'seconds', 'gflops', 'peak_alloc_mib', 'rss_growth_mib', 'full_matrix_mib']
    print('| ' + ' | '.join(cols) + ' |\n|' + '---|'*len(cols))
    for r in rows: print('| ' + ' | '.join(f'{r[c]:,}' if isinstance(r[c], int) else str(r[c]) for c in cols) + ' |')
    info = dict(cpus=ncpus(),
                machine=platform.processor() or platform.machine(), numpy=np.__version__, loadavg_at_start=load,
                date=time.strftime('%Y-%m-%d %H:%M'))
    write_json(out, dict(info=info, rows=rows), indent=1)
    print(f'wrote {out} ({info["cpus"]} CPUs, load average at start {load})')
