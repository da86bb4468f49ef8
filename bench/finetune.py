"""A real fine-tune on this CPU: SmolLM2-135M-Instruct on the first N GSM8K train samples, with LoRA (default) or
full fine-tuning, through `metamath.train` unchanged. Held-out loss on GSM8K test samples before and after.
Writes figures/finetune_loss.png and bench/results/finetune.json, and prints a summary.

    .venv/bin/python bench/finetune.py                       # LoRA r=8, 128 samples, 32 steps, 1 epoch
    .venv/bin/python bench/finetune.py --lora_r 0 --lr 2e-5  # full fine-tune
"""
import json, os, time
from pathlib import Path
from metamath.data import write_json
from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parents[1]

def held_out_loss(model_dir, samples, pad_id, micro_bsz=4, pack_len=512):
    "Mean response-token loss of `samples` under the model in `model_dir`"
    import torch
    from transformers import AutoModelForCausalLM
    from metamath.train import plan_step, sample_losses
    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    mbs = plan_step([len(s['input_ids']) for s in samples], micro_bsz, pack_len)
    res = sample_losses(m, samples, mbs, pad_id, packed=True)
    return sum(v[0] for v in res.values()) / sum(v[1] for v in res.values())

def plot(log, before, after, path, title):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    steps,loss = [r['step'] for r in log],[r['loss'] for r in log]
    fig,ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, loss, marker='.', alpha=.45, label='train loss (mean over the step\'s response tokens)')
    w = 4; ax.plot(steps[w-1:], [sum(loss[i-w+1:i+1])/w for i in range(w-1, len(loss))], color='C0', lw=2, label=f'running mean of {w} steps')
    ax.scatter([0, steps[-1]], [before, after], color='C3', zorder=3, label='held-out loss (GSM8K test)')
    ax.set_xlabel('optimizer step'); ax.set_ylabel('loss (nats/token)'); ax.set_title(title, fontsize=10)
    ax.grid(alpha=.3); ax.legend()
    ax2 = ax.twinx(); ax2.plot(steps, [r['lr'] for r in log], color='grey', alpha=.4, lw=1); ax2.set_ylabel('lr', color='grey')
    fig.tight_layout(); path.parent.mkdir(exist_ok=True); fig.savefig(path, dpi=120)

@call_parse
def main(n:int=128,            # GSM8K train samples
         n_eval:int=16,        # GSM8K test samples for the held-out loss
         lora_r:int=8,         # LoRA rank; 0: full fine-tune
         lr:float=3e-4,        # peak learning rate
         epochs:float=1.0,
         batch_size:int=4,     # samples per optimizer step
         micro_batch_size:int=2, # packed rows of 512 tokens per forward
         out:str='runs/finetune-smollm2'):
    "Fine-tune SmolLM2-135M-Instruct on GSM8K train on this CPU and plot the loss curve"
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from transformers import AutoTokenizer
    from metamath.data import load_data, write_jsonl
    from metamath.models import resolve_model
    from metamath.train import TrainConfig, encode_records, gsm8k_to_metamath, train
    from metamath.data import read_jsonl
    out = ROOT/out; out.mkdir(parents=True, exist_ok=True)
    data = out/'gsm8k_train.jsonl'
    write_jsonl(data, [gsm8k_to_metamath(r) for r in load_data('gsm8k', 'train', limit=n)])
    base = resolve_model('smollm2')
    tok = AutoTokenizer.from_pretrained(base)
    ev,_ = encode_records([gsm8k_to_metamath(r) for r in load_data('gsm8k', 'test', limit=n_eval)], tok)
    t0 = time.time(); before = held_out_loss(base, ev, tok.pad_token_id); t_eval = time.time() - t0
    print(f'held-out loss before: {before:.4f} ({t_eval:.0f} s)', flush=True)
    cfg = TrainConfig(data=str(data), model=base, out=str(out), epochs=epochs, batch_size=batch_size,
                      micro_batch_size=micro_batch_size, lr=lr, lora_r=lora_r, lora_alpha=2*lora_r or 16,
                      save_every=8, progress=False, warmup_ratio=0.03)
    t0 = time.time(); final = train(cfg); t_train = time.time() - t0
    after = held_out_loss(final, ev, tok.pad_token_id)
    log = read_jsonl(out/'log.jsonl')
    kind = f'LoRA r={lora_r}' if lora_r else 'full fine-tune'
    plot(log, before, after, ROOT/'figures'/'finetune_loss.png',
         f'SmolLM2-135M-Instruct, {kind}, {n} GSM8K train samples, CPU ({len(log)} steps, {t_train/60:.1f} min)')
    timed = log[1:] or log
    res = dict(model='SmolLM2-135M-Instruct', method=kind, n_train=n, n_eval=n_eval, steps=len(log), lr=lr,
               batch_size=batch_size, train_s=round(t_train, 1), s_per_step=round(sum(r['time_s'] for r in timed)/len(timed), 2),
               tok_per_s=round(sum(r['tokens'] for r in timed)/sum(r['time_s'] for r in timed), 1),
               pad_frac=round(sum(r['pad_frac'] for r in log)/len(log), 4),
               loss_first=round(log[0]['loss'], 4), loss_last=round(log[-1]['loss'], 4),
               loss_last4=round(sum(r['loss'] for r in log[-4:])/len(log[-4:]), 4),
               held_out_before=round(before, 4), held_out_after=round(after, 4), cores=os.cpu_count(),
               load_avg=os.getloadavg()[0])
    write_json(ROOT/'bench'/'results'/'finetune.json', res, indent=1)
    print(json.dumps(res, indent=1))
