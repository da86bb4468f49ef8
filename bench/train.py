"""Training throughput: useful (non-pad) tokens/s and padding waste of `metamath.train` packed, padded with random
batches, and padded with length bucketing, against the Hugging Face `Trainer` on the same model, tokens and
batches. Data: GSM8K + MATH train solutions in MetaMathQA's shape under the Alpaca prompt, max length 512, SmolLM2
tokenizer. Prints a table and writes bench/results/train.json.

    .venv/bin/python bench/train.py                    # 'mid' random Llama (SmolLM2's layer shape, 4 layers)
    .venv/bin/python bench/train.py --model smollm2    # the real 135M model (about 6x slower per token)
    .venv/bin/python bench/train.py --model tiny --steps 1 --micros 4   # smoke test
    .venv/bin/python bench/train.py --precisions no,bf16 --steps 6 --batch_size 8   # fp32 vs bf16 autocast -> train_precision.json

With `--precisions`, only the packed trainer runs, once per precision (`no`: fp32; `bf16`: accelerate's bf16
autocast, which on a CPU is `torch.autocast('cpu', bfloat16)`) on the same steps from the same initial weights: useful
tokens/s and the loss of every step, and whether this CPU computes bf16 natively (`metamath.generate.cpu_bf16`).

Every method sees the same optimizer steps (`batch_size` samples each, chosen by `metamath.train.step_indices`).
The first step of each run is a warm-up and is not timed. `micros` are samples per micro-batch for the padded
methods; the packed run uses as many 512-token rows as hold the same number of samples on average.
"""
import os, subprocess, sys, tempfile, time
from pathlib import Path
from metamath.data import write_json
from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parents[1]
MID = dict(hidden=576, layers=4, heads=9, kv_heads=3, intermediate=1536)   # SmolLM2-135M's layers, 4 of its 30

def hf_trainer_run(model_dir, samples, order, m, batch_size, steps, tok, out):
    "Time the HF Trainer over the same batches (sequential sampler over `order`); return per-step seconds"
    import torch
    from transformers import (AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainerCallback,
                              TrainingArguments)
    class Clock(TrainerCallback):
        def __init__(self): self.t = []
        def on_step_begin(self, args, state, control, **kw): self.t0 = time.time()
        def on_step_end(self, args, state, control, **kw): self.t.append(time.time() - self.t0)
    data = [dict(input_ids=samples[i]['input_ids'], labels=samples[i]['labels']) for i in order]
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=m, gradient_accumulation_steps=batch_size // m,
                             max_steps=steps, learning_rate=2e-5, lr_scheduler_type='cosine', warmup_steps=0,
                             weight_decay=0.0, max_grad_norm=1.0, train_sampling_strategy='sequential', save_strategy='no',
                             report_to='none', disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, logging_steps=10**6)
    clock = Clock()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    Trainer(model=model, args=args, train_dataset=data, callbacks=[clock],
            data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)).train()
    return clock.t

def precision_runs(model_dir, precisions, batch_size, m_rows, steps, out):
    "Packed training once per precision over the same steps: tokens/s (first step untimed) and per-step losses"
    from metamath.generate import cpu_bf16, cpu_flags
    res = dict(model_dir=model_dir, batch_size=batch_size, rows=m_rows, steps=steps, cores=os.cpu_count(), cpu_bf16=cpu_bf16(),
               cpu_flags=sorted(f for f in cpu_flags() if f.startswith(('avx512', 'amx')) or f in ('avx2', 'fma')), runs=[])
    tmp = Path(tempfile.mkdtemp(prefix='bench_prec_'))
    for prec in precisions:
        # accelerate fixes the precision once per process: each run is a trainer process of its own
        cmd = [sys.executable, '-m', 'metamath.train', '--data', 'gsm8k+math', '--model', model_dir, '--out', str(tmp/prec),
               '--batch_size', str(batch_size), '--micro_batch_size', str(m_rows), '--max_steps', str(steps + 1),
               '--warmup_ratio', '0', '--save_every', '0', '--precision', prec, '--no-progress']
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        from metamath.data import read_jsonl
        log = read_jsonl(tmp/prec/'log.jsonl')
        t = log[1:]
        res['runs'].append(dict(precision=prec, tok_per_s=round(sum(x['tokens'] for x in t) / sum(x['time_s'] for x in t), 1),
                                s_per_step=round(sum(x['time_s'] for x in t) / len(t), 2), loss=[round(x['loss'], 4) for x in log]))
        print(res['runs'][-1], flush=True)
    base = res['runs'][0]
    for r in res['runs'][1:]:
        r['speed_vs_' + base['precision']] = round(r['tok_per_s'] / base['tok_per_s'], 3)
        r['max_abs_loss_diff'] = round(max(abs(a - b) for a,b in zip(r['loss'], base['loss'])), 4)
    print(f"{'precision':<10} {'tok/s':>8} {'s/step':>7}  loss per step")
    for r in res['runs']: print(f"{r['precision']:<10} {r['tok_per_s']:>8} {r['s_per_step']:>7}  {r['loss']}")
    write_json(ROOT/out, res, indent=1)
    return res

def ours_run(model_dir, m_rows, batch_size, steps, out, **kw):
    "Run `metamath.train` for `steps` steps; return its per-step log rows"
    from metamath.data import read_jsonl
    from metamath.train import TrainConfig, train
    cfg = TrainConfig(data='gsm8k+math', model=model_dir, out=str(out), batch_size=batch_size, micro_batch_size=m_rows,
                      max_steps=steps, warmup_ratio=0, save_every=0, resume=False, progress=False, **kw)
    train(cfg)
    return read_jsonl(Path(out)/'log.jsonl')

@call_parse
def main(model:str='mid',      # mid (random Llama, SmolLM2's layer shape, 4 layers), smollm2, tiny, or a folder
         steps:int=2,          # timed optimizer steps per method (plus one warm-up step)
         batch_size:int=16,    # samples per optimizer step
         micros:str='4,16',    # samples per micro-batch (padded methods), comma-separated
         rounds:int=1,         # repeat the whole sweep; the best round of each method counts (the CPU is shared)
         seed:int=42,
         precisions:str='',    # e.g. no,bf16: compare training precisions instead (packed only; writes train_precision.json)
         out:str='bench/results/train.json'): # results file, relative to the repo root
    "Useful tokens/s and padding waste: packed vs padded vs the HF Trainer"
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from transformers import AutoTokenizer
    from metamath.models import resolve_model, tiny_llama
    from metamath.train import encode_records, load_train_records, step_indices
    model_dir = str(tiny_llama(**MID)) if model == 'mid' else resolve_model(model)
    if precisions:
        o = out if out != 'bench/results/train.json' else 'bench/results/train_precision.json'
        return precision_runs(model_dir, precisions.split(','), batch_size, int(micros.split(',')[0]), steps, o)
    tok = AutoTokenizer.from_pretrained(model_dir)
    samples,st = encode_records(load_train_records('gsm8k+math'), tok, max_len=512)
    lens = [len(s['input_ids']) for s in samples]
    mean = sum(lens) / len(lens)
    order = [i for k in range(steps + 1) for i in step_indices(len(samples), batch_size, k, seed)]
    useful = [sum(lens[i] for i in step_indices(len(samples), batch_size, k, seed)) for k in range(steps + 1)]
    res = dict(model=model, model_dir=model_dir, data=st, mean_len=round(mean, 1), batch_size=batch_size, steps=steps,
               cores=os.cpu_count(), runs=[])
    tmp = Path(tempfile.mkdtemp(prefix='bench_train_'))
    for r in range(rounds):
        for m in [int(x) for x in micros.split(',')]:
            rows = max(1, round(m * mean / 512))
            runs = {'padded (random batches)': dict(m_rows=m, packing=False, bucket=False),
                    'padded + length bucketing': dict(m_rows=m, packing=False, bucket=True),
                    f'packed ({rows} rows of 512)': dict(m_rows=rows, packing=True)}
            for name,kw in runs.items():
                log = ours_run(model_dir, batch_size=batch_size, steps=steps + 1, out=tmp/f'{r}_{m}_{kw["packing"]}_{kw.get("bucket")}', **kw)
                t = log[1:]
                res['runs'].append(dict(round=r, micro=m, method=name, s_per_step=sum(x['time_s'] for x in t)/len(t),
                                        tok_per_s=sum(x['tokens'] for x in t)/sum(x['time_s'] for x in t),
                                        pad_frac=1 - sum(x['tokens'] for x in t)/sum(x['tokens']/(1-x['pad_frac']) for x in t)))
                print(res['runs'][-1], flush=True)
            ts = hf_trainer_run(model_dir, samples, order, m, batch_size, steps + 1, tok, tmp/f'hf_{r}_{m}')[1:]
            comp = sum(m * max(lens[i] for i in order[k*batch_size + j*m:k*batch_size + (j+1)*m])
                       for k in range(1, steps + 1) for j in range(batch_size // m))
            res['runs'].append(dict(round=r, micro=m, method='HF Trainer (padded, random batches)', s_per_step=sum(ts)/len(ts),
                                    tok_per_s=sum(useful[1:])/sum(ts), pad_frac=1 - sum(useful[1:])/comp))
            print(res['runs'][-1], flush=True)
    best = {}
    for x in res['runs']:
        k = (x['micro'], x['method'])
        if k not in best or x['tok_per_s'] > best[k]['tok_per_s']: best[k] = x
    table = []
    for m in sorted({k[0] for k in best}):
        base = next(v for k,v in best.items() if k[0] == m and k[1].startswith('HF'))
        pad = next(v for k,v in best.items() if k[0] == m and k[1].startswith('padded (random'))
        bound = 1 / (1 - pad['pad_frac'])
        for (mm,name),v in best.items():
            if mm != m: continue
            sp = v['tok_per_s'] / pad['tok_per_s']
            table.append(dict(micro=m, method=name, tok_per_s=round(v['tok_per_s'], 1), pad_frac=round(v['pad_frac'], 3),
                              s_per_step=round(v['s_per_step'], 2), vs_hf=round(v['tok_per_s']/base['tok_per_s'], 3),
                              vs_padded=round(sp, 3), bound=round(bound, 3), of_bound=round(sp / bound, 3)))
    res['table'] = table
    hdr = f"{'micro':>5}  {'method':<36} {'useful tok/s':>12} {'pad %':>6} {'s/step':>7} {'vs HF':>6} {'vs padded':>9} {'bound':>6} {'of bound':>8}"
    print(f"\n{model} ({model_dir}), {batch_size} samples/step, {steps} timed steps, mean sample {mean:.0f} tokens\n{hdr}")
    for x in table:
        print(f"{x['micro']:>5}  {x['method']:<36} {x['tok_per_s']:>12.1f} {100*x['pad_frac']:>6.1f} {x['s_per_step']:>7.2f} "
              f"{x['vs_hf']:>6.2f} {x['vs_padded']:>9.2f} {x['bound']:>6.2f} {x['of_bound']:>8.2f}")
    write_json(ROOT/out, res, indent=1)
