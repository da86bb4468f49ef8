"""One-GPU training benchmark at real shapes (issue 17): bf16 FSDP (FSDP2 `fully_shard`, one process) training steps
of a LLaMA-2-7B-shaped model (LoRA r 16 on every linear layer of every decoder layer + gradient checkpointing, so it
fits one GPU) and of a 1B model (TinyLlama-1.1B's shape, full fine-tune), each packed and padded on the same
samples. Reports useful (non-pad) tokens/s packed vs padded, MFU, peak memory, and the loss parity of packed vs
unpacked rows in bf16 with the GPU attention kernel. Only torch, transformers and accelerate; no network, no vLLM,
no pretrained weights: random init, synthetic token ids, sample lengths drawn as MetaMathQA-like (log-normal, median
~250 tokens, 64-512). Prints a table and writes bench/results/gpu.json.

    python bench/gpu.py                          # on one H100/H200: both models, <= 8 minutes (--budget_s guards it)
    python bench/gpu.py --models 1b --steps 3    # one model
    python bench/gpu.py --smoke                  # a tiny random model on the CPU (gloo): checks the script itself

MFU counts model FLOPs only (no recomputation): per useful token 2 x (linear params) x 3 for a full fine-tune and
x 2 for LoRA (the frozen weights get no weight gradient), plus causal attention 2 x 2 x layers x hidden x (length/2)
with the same factor, over the GPU's dense bf16 peak (H100/H200 SXM 989 TFLOP/s; --peak_tflops for others).
"""
import argparse, json, math, os, platform, random, socket, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {  # LlamaConfig fields
    'llama2-7b': dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096),
    '1b': dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
               num_key_value_heads=4, vocab_size=32000, max_position_embeddings=4096),      # TinyLlama-1.1B
    'tiny': dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=512, max_position_embeddings=1024),
}
MODE = {'llama2-7b': 'lora', '1b': 'full', 'tiny': 'lora'}   # tiny: exercise the LoRA path; `--full` overrides
PEAK_BF16 = [('H100 PCIe', 756e12), ('H100', 989e12), ('H200', 989e12), ('GH200', 989e12), ('A100', 312e12),
             ('L40S', 362e12), ('B200', 2250e12)]

def parse_args(argv=None):
    "The benchmark's options, checked"
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--models', default='llama2-7b,1b', help=f'comma list of {", ".join(SHAPES)}')
    ap.add_argument('--full', action='store_true', help='full fine-tune every model (default: LoRA for llama2-7b)')
    ap.add_argument('--lora_r', type=int, default=16, help='LoRA rank')
    ap.add_argument('--steps', type=int, default=4, help='timed optimizer steps per model and layout')
    ap.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    ap.add_argument('--tokens', type=int, default=32768, help='useful tokens per optimizer step (about)')
    ap.add_argument('--max_len', type=int, default=512, help='longest sample (the paper: 512)')
    ap.add_argument('--pack_len', type=int, default=4096, help='tokens per packed row')
    ap.add_argument('--micro_batch_size', type=int, default=8, help='padded samples per micro-batch')
    ap.add_argument('--attn', default='auto', help='auto (flash_attention_2 if installed, else sdpa) | sdpa | eager | ...')
    ap.add_argument('--parity_samples', type=int, default=16, help='samples in the packed-vs-padded loss check')
    ap.add_argument('--budget_s', type=float, default=450, help='skip what would start after this many seconds')
    ap.add_argument('--peak_tflops', type=float, default=0, help='dense bf16 peak of the GPU (0: from its name)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--smoke', action='store_true', help='tiny model on the CPU (gloo): a check of the script, not a benchmark')
    ap.add_argument('--out', default='bench/results/gpu.json', help='results file (relative to the repo root)')
    a = ap.parse_args(argv)
    a.models = [m.strip() for m in a.models.split(',') if m.strip()]
    if a.smoke:
        a.models = ['tiny']
        a.tokens, a.max_len, a.pack_len, a.micro_batch_size = min(a.tokens, 1024), min(a.max_len, 128), min(a.pack_len, 512), min(a.micro_batch_size, 4)
        a.steps, a.warmup, a.parity_samples = min(a.steps, 1), min(a.warmup, 1), min(a.parity_samples, 6)
        if a.out == 'bench/results/gpu.json': a.out = 'bench/results/gpu_smoke.json'
    bad = [m for m in a.models if m not in SHAPES]
    if bad or not a.models: ap.error(f'--models: unknown {bad or a.models}; choose from {", ".join(SHAPES)}')
    for k in ('steps', 'tokens', 'max_len', 'pack_len', 'micro_batch_size', 'lora_r'):
        if getattr(a, k) < 1: ap.error(f'--{k} must be >= 1, not {getattr(a, k)}')
    if a.warmup < 0 or a.parity_samples < 0: ap.error('--warmup and --parity_samples must be >= 0')
    if a.max_len > a.pack_len: ap.error(f'--max_len {a.max_len} > --pack_len {a.pack_len}: a sample must fit a packed row')
    if a.tokens < a.max_len: ap.error(f'--tokens {a.tokens} < --max_len {a.max_len}: a step must hold a whole sample')
    return a

def sample_lengths(n_tokens:int, max_len:int, rng:random.Random)->list[int]:
    "MetaMathQA-like sample lengths (log-normal, median ~250 or max_len/2, clipped to [max_len/8, max_len]) adding up to >= `n_tokens`"
    out, med = [], min(250, max_len / 2)
    while sum(out) < n_tokens: out.append(int(min(max_len, max(max_len // 8, rng.lognormvariate(math.log(med), 0.45)))))
    return out

def make_samples(lengths, vocab, rng):
    "Random token ids; the first ~30% of each sample is its prompt (label -100), the rest its response"
    S = []
    for n in lengths:
        ids = [rng.randrange(3, vocab) for _ in range(n)]
        p = max(1, int(0.3 * n))
        S.append(dict(input_ids=ids, labels=[-100]*p + ids[p:]))
    return S

def pack(lengths, cap):
    "First-fit decreasing: rows of sample positions, at most `cap` tokens each"
    rows, room = [], []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        j = next((j for j,r in enumerate(room) if r >= lengths[i]), None)
        if j is None: rows.append([]); room.append(cap); j = len(rows) - 1
        rows[j].append(i); room[j] -= lengths[i]
    return rows

def micro_batches(samples, packed, a):
    "The step's micro-batches: one packed row each (position ids restart per sample), or padded groups of samples"
    if packed: return [[r] for r in pack([len(s['input_ids']) for s in samples], a.pack_len)]
    idx = list(range(len(samples)))
    return [[[i] for i in idx[k:k+a.micro_batch_size]] for k in range(0, len(idx), a.micro_batch_size)]

def collate(samples, mb, packed, device):
    "Tensors of one micro-batch: packed rows with restarting position ids and no mask, padded rows with a mask"
    import torch
    rows = [[t for i in r for t in samples[i]['input_ids']] for r in mb]
    labs = [[t for i in r for t in samples[i]['labels']] for r in mb]
    pos = [[p for i in r for p in range(len(samples[i]['input_ids']))] for r in mb]
    T = max(map(len, rows))
    pad = lambda xs, v: torch.tensor([x + [v]*(T - len(x)) for x in xs], device=device)
    b = dict(input_ids=pad(rows, 0), labels=pad(labs, -100))
    if packed: b['position_ids'] = pad(pos, 0)
    else: b['attention_mask'] = pad([[1]*len(x) for x in rows], 0)
    return b

def add_lora(model, r:int, alpha:int=16):
    "Freeze `model` and add LoRA adapters (rank `r`) to every linear layer of every decoder layer; return trainable count"
    import torch
    class Lora(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base, self.scale = base, alpha / r
            self.a = torch.nn.Parameter(torch.randn(r, base.in_features, device=base.weight.device) / math.sqrt(base.in_features))
            self.b = torch.nn.Parameter(torch.zeros(base.out_features, r, device=base.weight.device))
        def forward(self, x): return self.base(x) + (x @ self.a.t().to(x.dtype)) @ self.b.t().to(x.dtype) * self.scale
    for p in model.parameters(): p.requires_grad_(False)
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, m in list(parent.named_children()):
                if isinstance(m, torch.nn.Linear): setattr(parent, name, Lora(m))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

def build(name, a, device):
    "A random-init Llama of shape `name` (fp32 master weights), LoRA or full, FSDP2-wrapped per decoder layer"
    import torch, importlib.util
    from transformers import LlamaConfig, LlamaForCausalLM
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    attn = a.attn if a.attn != 'auto' else ('flash_attention_2' if device.type == 'cuda' and importlib.util.find_spec('flash_attn') else 'sdpa')
    cfg = LlamaConfig(**SHAPES[name], attn_implementation=attn, use_cache=False, tie_word_embeddings=False)
    torch.manual_seed(a.seed)
    with device: model = LlamaForCausalLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    lin = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))   # decoder linears + lm_head
    mode = 'full' if a.full else MODE[name]
    trainable = add_lora(model, a.lora_r) if mode == 'lora' else n_params
    if mode == 'lora': model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': False})
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in model.model.layers: fully_shard(layer, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.0)
    return model, opt, dict(model=name, mode=mode, attn=attn, params=n_params, linear_params=lin, trainable=trainable,
                            grad_ckpt=mode == 'lora', **{k: SHAPES[name][k] for k in ('hidden_size', 'num_hidden_layers')})

def train_steps(model, opt, steps, packed, a, rng, device, info):
    "Run `steps` optimizer steps on fresh samples; return per-step seconds, token counts, losses, samples"
    import torch
    vocab = SHAPES[info['model']]['vocab_size']
    times, useful, computed, losses, n = [], 0, 0, [], 0
    for _ in range(steps):
        S = make_samples(sample_lengths(a.tokens, a.max_len, rng), vocab, rng)
        n_items = sum(sum(l != -100 for l in s['labels'][1:]) for s in S)
        if device.type == 'cuda': torch.cuda.synchronize()
        t0, tot = time.time(), 0.0
        for mb in micro_batches(S, packed, a):
            b = collate(S, mb, packed, device)
            loss = model(**b, num_items_in_batch=n_items).loss
            loss.backward(); tot += loss.item()
            computed += b['input_ids'].numel()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step(); opt.zero_grad(set_to_none=True)
        if device.type == 'cuda': torch.cuda.synchronize()
        times.append(time.time() - t0); losses.append(tot); useful += sum(len(s['input_ids']) for s in S); n += len(S)
    return times, useful, computed, losses, n

def loss_parity(model, a, rng, device, info):
    "Summed response loss of each sample, packed in rows vs padded alone in a batch, bf16 on the same weights"
    import torch
    S = make_samples(sample_lengths(a.parity_samples * 250, a.max_len, rng)[:max(2, a.parity_samples)], SHAPES[info['model']]['vocab_size'], rng)
    def per_sample(packed):
        res = {}
        with torch.no_grad():
            for mb in micro_batches(S, packed, a):
                b = collate(S, mb, packed, device)
                logits = model(**{k: v for k,v in b.items() if k != 'labels'}).logits.float()
                tgt = torch.nn.functional.pad(b['labels'], (0, 1), value=-100)[:, 1:]
                tl = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt, reduction='none', ignore_index=-100)
                for r,row in enumerate(mb):
                    o = 0
                    for i in row:
                        n = len(S[i]['input_ids']); res[i] = tl[r, o:o+n].sum().item(); o += n
        return res
    p, u = per_sample(True), per_sample(False)
    rel = [abs(p[i] - u[i]) / max(1e-9, abs(u[i])) for i in u]
    return dict(samples=len(S), total_packed=sum(p.values()), total_padded=sum(u.values()),
                total_rel_diff=abs(sum(p.values()) - sum(u.values())) / max(1e-9, abs(sum(u.values()))),
                max_sample_rel_diff=max(rel), mean_sample_rel_diff=sum(rel) / len(rel))

def flops_per_token(info, mean_len):
    "Model FLOPs per useful token (forward x 3 for a full fine-tune, x 2 for LoRA's frozen weights)"
    fwd = 2 * info['linear_params'] + 2 * 2 * info['num_hidden_layers'] * info['hidden_size'] * (mean_len / 2)
    return fwd * (3 if info['mode'] == 'full' else 2)

def peak_flops(a, device):
    import torch
    if a.peak_tflops: return a.peak_tflops * 1e12
    if device.type != 'cuda': return None
    name = torch.cuda.get_device_name()
    return next((v for k,v in PEAK_BF16 if k in name), None)

def init_dist(device):
    "A one-process group (FSDP needs one): nccl on a GPU, gloo on the CPU"
    import torch.distributed as dist
    if dist.is_initialized(): return
    if 'MASTER_PORT' not in os.environ:
        with socket.socket() as s: s.bind(('127.0.0.1', 0)); os.environ['MASTER_PORT'] = str(s.getsockname()[1])
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1'); os.environ.setdefault('RANK', '0'); os.environ.setdefault('WORLD_SIZE', '1')
    dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')

def run(a)->dict:
    "Benchmark every model of `a`, packed and padded, within `a.budget_s`; return the results"
    import torch, transformers, accelerate
    if not a.smoke and not torch.cuda.is_available():
        raise SystemExit('bench/gpu.py: no CUDA GPU here; run it on one H100/H200, or use --smoke for the CPU check')
    device = torch.device('cuda' if torch.cuda.is_available() and not a.smoke else 'cpu')
    init_dist(device)
    if device.type == 'cuda': torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    t_start, rng, peak = time.time(), random.Random(a.seed), peak_flops(a, device)
    res = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or 'cpu',
               torch=torch.__version__, transformers=transformers.__version__, accelerate=accelerate.__version__,
               peak_bf16_flops=peak, args={k: v for k,v in vars(a).items()}, runs=[], parity={}, skipped=[])
    for name in a.models:
        if time.time() - t_start > a.budget_s: res['skipped'].append(name); continue
        t0 = time.time()
        model, opt, info = build(name, a, device)
        info['build_s'] = time.time() - t0
        for packed in (True, False):
            if time.time() - t_start > a.budget_s: res['skipped'].append(f'{name} {"packed" if packed else "padded"}'); continue
            if device.type == 'cuda': torch.cuda.reset_peak_memory_stats()
            if a.warmup: train_steps(model, opt, a.warmup, packed, a, rng, device, info)
            times, useful, computed, losses, n = train_steps(model, opt, a.steps, packed, a, rng, device, info)
            tps, fpt = useful / sum(times), flops_per_token(info, useful / n)
            res['runs'].append(dict(info, layout='packed' if packed else 'padded', steps=a.steps, step_s=sum(times)/len(times),
                                    tokens_per_s=tps, computed_tokens_per_s=computed / sum(times), pad_frac=1 - useful/computed,
                                    mfu=tps * fpt / peak if peak else None, flops_per_token=fpt,
                                    peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if device.type == 'cuda' else None,
                                    mean_len=useful / n, loss=losses[-1]))
        if time.time() - t_start <= a.budget_s and a.parity_samples:
            res['parity'][name] = dict(loss_parity(model, a, rng, device, info), attn=info['attn'], dtype='bf16')
        del model, opt
        if device.type == 'cuda': torch.cuda.empty_cache()
    res['wall_s'] = time.time() - t_start
    return res

def table(res)->str:
    "The results as a markdown table"
    f = lambda v, d=1: '-' if v is None else f'{v:,.{d}f}'
    lines = ['| model | mode | layout | tokens/s | pad % | step s | MFU % | peak GiB | loss |', '|---|---|---|---|---|---|---|---|---|']
    for r in res['runs']:
        lines.append(f"| {r['model']} | {r['mode']} | {r['layout']} | {f(r['tokens_per_s'], 0)} | {f(100*r['pad_frac'])} | "
                     f"{f(r['step_s'], 2)} | {f(None if r['mfu'] is None else 100*r['mfu'])} | {f(r['peak_mem_gib'])} | {f(r['loss'], 3)} |")
    for m,p in res['parity'].items():
        lines.append(f"\nparity {m} ({p['attn']}, bf16, {p['samples']} samples): total rel diff {p['total_rel_diff']:.2e}, "
                     f"max per-sample rel diff {p['max_sample_rel_diff']:.2e}")
    if res['skipped']: lines.append(f"\nskipped (budget): {', '.join(res['skipped'])}")
    return '\n'.join(lines)

def main(argv=None):
    a = parse_args(argv)
    res = run(a)
    out = ROOT/a.out if not Path(a.out).is_absolute() else Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(res, indent=1, default=str))
    print(table(res)); print(f'\nwrote {out} ({res["wall_s"]:.0f} s)')
    import torch.distributed as dist
    if dist.is_initialized(): dist.destroy_process_group()
    return res

if __name__ == '__main__': main()
