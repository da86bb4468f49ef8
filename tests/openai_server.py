"""A small OpenAI-compatible server for tests and benchmarks, backed by a real tiny model (transformers).

`/v1/completions` and `/v1/chat/completions` answer like vLLM's server. Switches (command line, or POST `/control`
while running) inject faults into a fraction of requests: `429` (with Retry-After), `500`, `stall` (no answer for
`--stall` seconds, past the client's timeout), `malformed` (200 with a body that is not JSON), `empty` (200, valid
JSON, no choices) and `truncated` (200 whose body is cut short of its Content-Length). `--latency` is a floor on
every response time, overlapping with the model's work, as a remote API's round trip would: the server is then
latency-bound, not compute-bound, up to its batch size. `fault_next=k` (POST `/control`) faults the next k requests
with the first listed fault, for sure. GET `/stats` counts requests, successes and faults, and lists recent arrival
times (monotonic seconds). `--memo` answers a request seen before from memory, without the model, so a benchmark
can measure the client against a server that is purely latency-bound. `--chat-only` refuses `/v1/completions` with
OpenAI's 404 for a chat model. `--sim gsm8k,math` replaces the model by `sim_teacher.SimTeacher`, a fast deterministic
stand-in for a teacher on bootstrap prompts (bench/scale.py).

    python tests/openai_server.py --model tiny --port 0 --latency 0.2 --fault-rate 0.2   # prints `READY <base_url>`
"""
from __future__ import annotations
import argparse, asyncio, contextlib, json, os, random, socket, subprocess, sys, time, urllib.request
from collections import Counter
from pathlib import Path

FAULTS = ('429', '500', 'stall', 'malformed', 'empty', 'truncated')


class TinyModel:
    "Batched generation with transformers; each row is one choice of one request"
    def __init__(self, path):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        torch.set_num_threads(1)   # a tiny model: more threads only spin against each other on a shared CPU
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.eos = self.tok.eos_token_id

    def encode(self, body:dict, chat:bool)->list[int]:
        if chat: text = self.tok.apply_chat_template(body['messages'], tokenize=False, add_generation_prompt=True)
        else: text = body['prompt']
        return self.tok(text, add_special_tokens=not chat).input_ids

    def generate(self, rows:list[dict])->list[dict]:
        "rows share temperature/top_p/max_tokens; each has `ids`, `stop`, `seed`"
        import torch
        p = rows[0]; width = max(len(r['ids']) for r in rows)
        ids = torch.tensor([[self.eos]*(width-len(r['ids'])) + r['ids'] for r in rows])
        mask = torch.tensor([[0]*(width-len(r['ids'])) + [1]*len(r['ids']) for r in rows])
        temp = p['temperature']
        kw = dict(do_sample=True, temperature=temp, top_p=p['top_p']) if temp > 0 else dict(do_sample=False)
        if temp > 0: torch.manual_seed(p['seed'] or 0)
        with torch.no_grad():
            out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=p['max_tokens'],
                                      pad_token_id=self.eos, eos_token_id=self.eos, **kw)
        res = []
        for r,g in zip(rows, out[:, width:].tolist()):
            end = g.index(self.eos) if self.eos in g else len(g)
            text = self.tok.decode(g[:end], skip_special_tokens=True)
            cut = [text.find(s) for s in r['stop'] if s and s in text]
            finish = 'stop' if end < len(g) else 'length'
            ntok = end + (end < len(g))
            if cut:
                k = min(cut); text = text[:k]; finish = 'stop'
                ntok = next(j for j in range(1, end+1) if any(s in self.tok.decode(g[:j], skip_special_tokens=True) for s in r['stop'] if s))
            res.append(dict(text=text, finish_reason=finish, completion_tokens=ntok))
        return res


def make_app(model:TinyModel, name:str, opts:dict):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    stats, rng, queue, arrivals, memo = Counter(), random.Random(opts.get('seed', 0)), asyncio.Queue(), [], {}

    class Truncated(Response):
        async def __call__(self, scope, receive, send):
            await send({'type':'http.response.start', 'status':200, 'headers':[
                (b'content-type', b'application/json'), (b'content-length', str(len(self.body)).encode())]})
            await send({'type':'http.response.body', 'body':self.body[:len(self.body)//2], 'more_body':False})

    async def worker():
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < opts['max_batch']: batch.append(queue.get_nowait())
            groups = {}
            for row,fut in batch: groups.setdefault((row['temperature'], row['top_p'], row['max_tokens']), []).append((row, fut))
            for g in groups.values():
                try:
                    outs = await asyncio.to_thread(model.generate, [r for r,_ in g])
                    for (_,fut),o in zip(g, outs): fut.set_result(o)
                except Exception as e:
                    for _,fut in g: fut.set_exception(e)

    def err(status, msg, typ='invalid_request_error'):
        return JSONResponse({'error': {'message': msg, 'type': typ, 'code': status}}, status_code=status)

    async def complete(request, chat:bool):
        t0 = time.monotonic(); stats['requests'] += 1; arrivals.append(t0); del arrivals[:-200]
        floor = lambda: asyncio.sleep(max(0, t0 + opts['latency'] - time.monotonic()))
        if opts.get('api_key') and request.headers.get('authorization') != f"Bearer {opts['api_key']}":
            got = request.headers.get('authorization', '').removeprefix('Bearer ')
            stats['unauthorized'] += 1
            return err(401, f'Incorrect API key provided: {got}. You can find your API key at ...', 'invalid_api_key')
        if opts['fault_next'] > 0: opts['fault_next'] -= 1; fault = opts['faults'][0]   # the next k requests, for sure
        else: fault = rng.choice(opts['faults']) if opts['faults'] and rng.random() < opts['fault_rate'] else None
        if fault: stats[f'fault_{fault}'] += 1; stats['faults'] += 1
        if fault == '429':
            await floor()
            return JSONResponse({'error': {'message': 'Rate limit reached', 'type': 'rate_limit'}}, status_code=429,
                                headers={'retry-after': str(opts['retry_after'])})
        if fault == '500': await floor(); return err(500, 'internal error (injected)', 'server_error')
        if fault == 'stall': await asyncio.sleep(opts['stall']); return err(500, 'stalled (injected)', 'server_error')
        try: body = await request.json()
        except Exception: return err(400, 'request body is not JSON')
        if body.get('model') != name: return err(404, f"model {body.get('model')!r} not found; this server has {name!r}")
        if opts['chat_only'] and not chat:   # OpenAI's answer for a chat model on the completions endpoint
            stats['completions_refused'] += 1
            return err(404, 'This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?')
        key = 'messages' if chat else 'prompt'
        if not isinstance(body.get(key), list if chat else str): return err(400, f'{key!r} is missing or has the wrong type')
        if chat and opts['chat_only']: stats['chat'] += 1
        try: ids = model.encode(body, chat)
        except Exception as e: return err(400, f'cannot encode the prompt: {e}')
        stop = body.get('stop') or []
        stop = [stop] if isinstance(stop, str) else stop
        base = dict(ids=ids, stop=stop, temperature=float(body.get('temperature', 1.0)), top_p=float(body.get('top_p', 1.0)),
                    max_tokens=int(body.get('max_tokens') or 16))
        futs, seed = [], body.get('seed')
        for i in range(int(body.get('n') or 1)):
            row = dict(base, seed=None if seed is None else seed + i)
            key = json.dumps(row) if opts['memo'] else None
            if key in memo: futs.append(memo[key]); stats['memo_hits'] += 1; continue
            fut = asyncio.get_running_loop().create_future(); futs.append(fut)
            if key: memo[key] = fut
            queue.put_nowait((row, fut))
        outs = await asyncio.gather(*futs)
        await floor()
        choices = [dict(index=i, finish_reason=o['finish_reason'], logprobs=None,
                        **({'message': {'role':'assistant', 'content':o['text']}} if chat else {'text': o['text']}))
                   for i,o in enumerate(outs)]
        ntok = sum(o['completion_tokens'] for o in outs)
        resp = dict(id=f'cmpl-{stats["requests"]}', object='chat.completion' if chat else 'text_completion',
                    created=int(time.time()), model=name, choices=choices,
                    usage=dict(prompt_tokens=(npr := getattr(model, 'count', len)(ids)), completion_tokens=ntok, total_tokens=npr+ntok))
        if fault == 'malformed': return Response(json.dumps(resp)[:-7] + '<html>', media_type='application/json')
        if fault == 'empty': return JSONResponse(dict(resp, choices=[]))
        if fault == 'truncated': return Truncated(json.dumps(resp).encode())
        stats['ok'] += 1
        return JSONResponse(resp)

    async def completions(request): return await complete(request, chat=False)
    async def chat_completions(request): return await complete(request, chat=True)
    async def get_stats(request): return JSONResponse(dict(stats, arrivals=arrivals, cpu_s=time.process_time()))
    async def control(request):
        body = await request.json()
        if body.pop('reset', False): stats.clear(); arrivals.clear()
        if 'seed' in body: rng.seed(body.pop('seed'))
        bad = [k for k in body if k not in opts]
        if bad: return err(400, f'unknown settings {bad}')
        opts.update(body)
        return JSONResponse({k:v for k,v in opts.items() if k != 'api_key'})
    async def models(request): return JSONResponse({'object':'list', 'data':[{'id':name, 'object':'model'}]})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(worker())
        yield
        task.cancel()

    return Starlette(routes=[Route('/v1/completions', completions, methods=['POST']),
                             Route('/v1/chat/completions', chat_completions, methods=['POST']),
                             Route('/v1/models', models), Route('/stats', get_stats),
                             Route('/control', control, methods=['POST'])], lifespan=lifespan)


async def _serve(app, port):
    import uvicorn
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and without it every response waits
    # ~40 ms for a delayed ACK (Nagle), which would swamp the latencies measured against this server
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    server = uvicorn.Server(uvicorn.Config(app, log_level='critical', access_log=False, timeout_keep_alive=30))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started: await asyncio.sleep(0.05)
    print(f'READY http://127.0.0.1:{sock.getsockname()[1]}/v1', flush=True)
    await task


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='tiny', help='anything metamath.models.resolve_model accepts')
    ap.add_argument('--served-name', default=None, help='the model name clients ask for (default: --model)')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--latency', type=float, default=0.0, help='floor on response time, seconds')
    ap.add_argument('--fault-rate', type=float, default=0.0)
    ap.add_argument('--faults', default=','.join(FAULTS), help='comma-separated subset of ' + ','.join(FAULTS))
    ap.add_argument('--stall', type=float, default=5.0, help='seconds a stalled request hangs')
    ap.add_argument('--retry-after', type=float, default=0.2, help='Retry-After of a 429, seconds')
    ap.add_argument('--max-batch', type=int, default=64)
    ap.add_argument('--api-key-env', default=None, help='require the key held by this environment variable')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--memo', action='store_true', help='answer a repeated request from memory (benchmarks of the client)')
    ap.add_argument('--chat-only', action='store_true', help='refuse /v1/completions with 404, as OpenAI does for a chat model')
    ap.add_argument('--sim', default=None, help="no model: a simulated teacher answering bootstrap prompts from the gold of these "
                                                "data sets' training questions (comma list, e.g. gsm8k,math); see sim_teacher.py")
    ap.add_argument('--data', default=None, help='--sim: data folder (default: find_data_dir())')
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from metamath.models import resolve_model
    if a.sim:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from sim_teacher import SimTeacher
        model = SimTeacher(a.sim.split(','), a.data)
    else: model = TinyModel(resolve_model(a.model))
    faults = [f for f in a.faults.split(',') if f]
    if bad := [f for f in faults if f not in FAULTS]: ap.error(f'unknown faults {bad}; known: {FAULTS}')
    opts = dict(latency=a.latency, fault_rate=a.fault_rate, faults=faults, stall=a.stall, retry_after=a.retry_after,
                max_batch=a.max_batch, seed=a.seed, fault_next=0, memo=a.memo, chat_only=a.chat_only, api_key=os.environ.get(a.api_key_env) if a.api_key_env else None)
    asyncio.run(_serve(make_app(model, a.served_name or a.model, opts), a.port))


def _die_with_parent():
    "In the child: be sent SIGTERM when the parent dies (Linux), so a killed test or benchmark leaves no server behind"
    try:
        import ctypes, signal
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError): pass


class ServerProcess:
    "Start `openai_server.py` in a subprocess; `.url`, `.stats()`, `.control(**settings)`; stop it on exit"
    def __init__(self, *args:str, env:dict|None=None, timeout:float=180):
        self.proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent)
        t0 = time.time(); self.url = None
        while time.time() - t0 < timeout:
            line = self.proc.stdout.readline()
            if line.startswith('READY '): self.url = line.split()[1]; break
            if not line and self.proc.poll() is not None: break
        if self.url is None: self.close(); raise RuntimeError(f'openai_server.py did not start (exit {self.proc.poll()})')
        self.root = self.url.removesuffix('/v1')

    def _call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.root + path, data=data, headers={'content-type': 'application/json'})
        with urllib.request.urlopen(req, timeout=30) as r: return json.loads(r.read())

    def stats(self)->dict: return self._call('/stats')
    def control(self, **kw)->dict: return self._call('/control', kw)
    def close(self):
        if self.proc.poll() is None: self.proc.terminate()
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
    def __enter__(self): return self
    def __exit__(self, *a): self.close()


if __name__ == '__main__': main()
