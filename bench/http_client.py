"""The client's own CPU per request on each HTTP stack of `OpenAIBackend` (raw aiohttp, the openai SDK over aiohttp, over httpx).

The server is `tests/openai_server.py --memo` with the tiny model: after the first, every request is answered from
memory, so the server's work is small and the same for every stack. Each stack sends the same `--requests` chat
requests (an 8-shot-sized prompt, `n=1`) at `--concurrency`; this process's CPU seconds (user + system) over the run,
divided by the requests, is the client's cost. Writes `bench/results/http_client.json`.

    flock /tmp/mm-cpu.lock python bench/http_client.py --requests 3000
"""
from __future__ import annotations
import argparse, json, resource, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT/'tests')]


class Sink:
    def __init__(self): self.done_n, self.failed, self.retries = 0, 0, 0
    def done(self, req, samples, input_tokens=0): self.done_n += len(samples)
    def fail(self, req, reason): self.failed += req.n
    def retry(self, kind): self.retries += 1


def cpu()->float:
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--requests', type=int, default=3000)
    ap.add_argument('--concurrency', type=int, default=32)
    ap.add_argument('--stacks', default='raw,aiohttp,httpx')
    ap.add_argument('--results', default=str(ROOT/'bench'/'results'/'http_client.json'))
    a = ap.parse_args(argv)
    from openai_server import ServerProcess
    from metamath.generate import OpenAIBackend, Request, Sampling
    prompt = ('Question: ' + 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. ' * 4
              + "\nA: Let's think step by step. " + 'She sold 48/2 = 24 clips in May. ' * 6 + '\n\n') * 8 + 'Question: How many?\nA:'
    sp, rows = Sampling.make(max_tokens=8), []
    with ServerProcess('--model', 'tiny', '--memo') as srv:
        for stack in a.stacks.split(','):
            be = OpenAIBackend('tiny', base_url=srv.url, concurrency=a.concurrency, chat=True, http=stack)
            be.run([Request('w', prompt, 0, 1)], sp, Sink())                      # warm: the server memoises the answer
            reqs = [Request(f'k{i}', prompt, 0, 1) for i in range(a.requests)]
            sink, c0, t0 = Sink(), cpu(), time.perf_counter()
            be.run(reqs, sp, sink)
            c, w = cpu() - c0, time.perf_counter() - t0
            assert sink.done_n == a.requests and not sink.failed, (sink.done_n, sink.failed)
            rows.append(dict(stack=stack, requests=a.requests, concurrency=a.concurrency, prompt_chars=len(prompt),
                             client_cpu_s=round(c, 2), wall_s=round(w, 2), client_cpu_ms_per_request=round(1000 * c / a.requests, 3),
                             requests_per_s=round(a.requests / w, 1)))
    print(f"{'stack':<8} {'requests':>8} {'cpu_s':>7} {'wall_s':>7} {'cpu ms/req':>10} {'req/s':>7}")
    for r in rows: print(f"{r['stack']:<8} {r['requests']:>8} {r['client_cpu_s']:>7} {r['wall_s']:>7} {r['client_cpu_ms_per_request']:>10} {r['requests_per_s']:>7}")
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(json.dumps(dict(rows=rows, note='2 shared cores; CPU seconds of this process only'), indent=1) + '\n')
    return rows


if __name__ == '__main__': main()
