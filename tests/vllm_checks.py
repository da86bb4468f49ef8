"""What the vLLM backend must do, run in a process of its own (one vLLM engine per process) by tests/test_generate.py.

    python tests/vllm_checks.py OUT_DIR [MODEL]

Writes OUT_DIR/vllm.json: greedy completions and chat answers (the test compares them with transformers), a
sampled text with and without a stop string, a resumed sampling job, and a job with one prompt too long for the model.
"""
import json, os, sys
from dataclasses import asdict
from pathlib import Path



def prompts(k=8):
    from metamath.data import load_data
    from metamath.formats import format_prompt
    qs = [r['question'] for r in load_data('gsm8k', 'test', limit=k)]
    return [format_prompt(q) for q in qs], [[{'role': 'user', 'content': q}] for q in qs[:3]]


def main(out, model='tiny'):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('VLLM_CPU_KVCACHE_SPACE', '1'); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from metamath.data import read_jsonl
    from metamath.generate import Generator, VLLMBackend, cpu_bf16
    comp, chat = prompts()
    res = {}
    res['reserved_before'] = os.environ.get('VLLM_CPU_NUM_OF_RESERVED_CPU')
    share = VLLMBackend.sharing(); share.__enter__()   # the engine outlives `vb` and serves a second backend below
    with VLLMBackend(model, chunk_size=3) as vb:
        res['config'], res['cpu_bf16'] = vb.config(), cpu_bf16()   # 3 samples a chunk: several chunks, each written as it ends
        g = Generator(vb, cache=out/'greedy.jsonl', progress=False)
        res['greedy'] = [asdict(o[0]) for o in g.generate(comp, max_tokens=16)]
        res['reserved'] = os.environ.get('VLLM_CPU_NUM_OF_RESERVED_CPU')
        res['greedy_ledger'] = asdict(g.ledger)
        res['chat'] = [asdict(o[0]) for o in g.generate(chat, max_tokens=8)]
        res['greedy_rows'] = len(read_jsonl(out/'greedy.jsonl'))
        full = g.generate(comp[:1], max_tokens=16, temperature=1.0, seed=11)[0][0].text
        stop = full[len(full)//2:len(full)//2 + 3]
        res['stop'] = dict(full=full, stop=stop, cut=asdict(g.generate(comp[:1], max_tokens=16, temperature=1.0, seed=11, stop=[stop])[0][0]))
        # n samples, then a resume with sample 1 of prompt 0 lost: it is redrawn alone, identically
        s = Generator(vb, cache=out/'samples.jsonl', progress=False)
        first = s.generate(comp[:2], n=3, temperature=1.0, max_tokens=12, seed=5)
        lines = (out/'samples.jsonl').read_text().splitlines(keepends=True)
        lost = next(i for i,l in enumerate(lines) if json.loads(l)['text'] == first[0][1].text and json.loads(l)['index'] == 1)
        (out/'samples.jsonl').write_text(''.join(l for i,l in enumerate(lines) if i != lost))
        s2 = Generator(vb, cache=out/'samples.jsonl', progress=False)
        again = s2.generate(comp[:2], n=3, temperature=1.0, max_tokens=12, seed=5)
        res['samples'] = dict(first=[[x.text for x in o] for o in first], again=[[x.text for x in o] for o in again],
                              ledger=asdict(s2.ledger))
        # seeded sampling over prompts that overflow one step's token budget (a CPU engine died on this: chunked
        # prefill rewinds the random generator of a partly prefilled request, which only CUDA generators allow)
        big = [f'{i} ' + 'one two three ' * 450 for i in range(4)]
        o = Generator(vb, cache=out/'big.jsonl', progress=False).generate(big, n=2, temperature=1.0, max_tokens=4, seed=3)
        res['big'] = dict(samples=[len(x) for x in o], prompt_tokens=[x[0].prompt_tokens for x in o])
        # a prompt longer than the model's context fails alone inside its chunk
        b = Generator(vb, cache=out/'long.jsonl', progress=False)
        o = b.generate([comp[0], 'one two three ' * 1000, comp[2]], max_tokens=4)
        res['long'] = dict(ok=[x[0] is not None for x in o], ledger=asdict(b.ledger), rows=len(read_jsonl(out/'long.jsonl')),
                           failures=read_jsonl(out/'long.failures.jsonl'))
        engine = vb.llm
    # a second backend with the same settings takes the running engine (no second start) and gives the same text
    with VLLMBackend(model, chunk_size=8) as vb2:
        again = Generator(vb2, progress=False).generate(comp, max_tokens=16)
        res['sharing'] = dict(same_engine=vb2.llm is engine, same_text=[o[0].text for o in again] == [r['text'] for r in res['greedy']],
                              pooled=len(VLLMBackend._pool), users=next(iter(VLLMBackend._pool.values()))[1])
    share.__exit__(None, None, None)
    res['sharing']['closed'] = VLLMBackend._pool is None
    (out/'vllm.json').write_text(json.dumps(res, indent=1))


if __name__ == '__main__': main(*sys.argv[1:])
