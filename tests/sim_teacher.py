"""A simulated teacher for bootstrap prompts: fast, deterministic, answering from the gold of the training questions.

`openai_server.py --sim gsm8k,math` serves it in place of a model. It reads the last query of a bootstrap prompt
(this project's templates or the original MetaMath layout), finds the training question behind it and answers:

- solve (AnsAug, Rephrased/verify, SV, FOBAR): the reference solution (or, backward, a short derivation) with seeded
  filler words so that no two samples are near duplicates, ending `The answer is: X`. X is the gold with probability
  `RATES[dataset][method]` (the paper's yields: AnsAug 80% GSM8K / 40% MATH, rephrase verification 76%, SV and FOBAR
  60%), else a wrong value. A few samples lose the answer line (`NO_LINE`) or ramble past `max_tokens` (`RAMBLE`), so
  the keep rules have something to drop; a reference solution longer than `max_tokens` is cut there too (`length`).
- rephrase: the question with its sentences rotated behind a seeded opener ("Consider this problem:").
- SV statement: the question sentence as a statement of its answer.

Every choice is a function of (prompt, seed), so a re-run gives the same samples.
"""
from __future__ import annotations
import hashlib, random, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metamath.bootstrap import VAR
from metamath.masking import mask_numbers, split_question
from metamath.formats import metamath_response, norm_question
from metamath.data import load_data

RATES = {'gsm8k': dict(AnsAug=0.80, Rephrased=0.76, SV=0.60, FOBAR=0.60),
         'math':  dict(AnsAug=0.40, Rephrased=0.76, SV=0.60, FOBAR=0.60)}
NO_LINE, RAMBLE = 0.02, 0.02      # shares of solutions without the answer line / running past max_tokens
OPEN_A = 'Consider Take Read Solve Study Examine Review Ponder Answer Tackle Approach Explore'.split()
OPEN_B = ['this problem', 'the following', 'this question', 'the problem below', 'this word problem', 'the task',
          'this puzzle', 'the question that follows', 'this exercise', 'the scenario']
OPENER_RX = re.compile(rf"^(?:{'|'.join(OPEN_A)}) (?:{'|'.join(sorted(OPEN_B, key=len, reverse=True))}): ", re.I)
FILLER = ('so then now here thus next also again clearly indeed first second finally well okay note recall hence '
          'therefore since because given simply directly carefully quickly easily altogether overall basically').split()
FILLER_SET = set(FILLER)
SV_TAIL = re.compile(r'\s*What is the value of unknown variable \$?[xX]\$?\?\s*$')
FOBAR_SPLIT = re.compile(r'\n(?:### )?If we know the answer to the above question is ')


def u(*parts)->float:
    "A uniform number in [0, 1) from `parts`"
    return int(hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest(), 16) / 2**64

def bag(s:str)->tuple: return tuple(sorted(w for w in norm_question(s).split() if w not in FILLER_SET))
def statement(ask:str, answer:str)->str: return f"{ask.strip().rstrip(' ?.')} is {answer}."


class SimTeacher:
    "Answers bootstrap prompts for the training questions of `datasets`"
    def __init__(self, datasets=('gsm8k', 'math'), data:str|None=None):
        self.by_bag, self.fobar, self.sv = {}, {}, {}
        for ds in datasets:
            var, latex = VAR[ds], ds == 'math'
            for r in load_data(ds, 'train', source=data):
                if r['answer'] is None: continue
                self.by_bag.setdefault(bag(r['question']), (ds, r))
                for masked, value in mask_numbers(r['question'], var, latex):
                    self.fobar.setdefault(norm_question(masked), (ds, value))
                    body, ask = split_question(masked, latex)
                    self.sv.setdefault(norm_question(f'{body} {statement(ask, r["answer"])}'), (ds, value))

    def count(self, text:str)->int: return len(text) // 4 + 1
    def encode(self, body:dict, chat:bool)->str:
        if not chat: return body['prompt']
        return next(m['content'] for m in reversed(body['messages']) if m.get('role') == 'user')

    def generate(self, rows:list[dict])->list[dict]:
        out = []
        for r in rows:
            text = self.answer(r['ids'], r['seed'])
            fin, ntok = 'stop', self.count(text)
            cut = [text.find(s) for s in r['stop'] if s and s in text]
            if cut: text = text[:min(cut)]; ntok = self.count(text)
            elif ntok > r['max_tokens']: text, fin, ntok = text[:4 * r['max_tokens']], 'length', r['max_tokens']
            out.append(dict(text=text, finish_reason=fin, completion_tokens=ntok))
        return out

    def answer(self, prompt:str, seed)->str:
        "The simulated completion of one bootstrap prompt"
        p, h = prompt.rstrip(' '), hashlib.blake2b(prompt.encode(), digest_size=16).hexdigest()
        if p.endswith(('Rewritten question:', 'Rephrase the above question:')):
            q = p.rsplit('Question: ', 1)[-1].rsplit('\n', 1)[0]
            return ' ' + self.rephrase(q, h, seed)
        if p.endswith(('Statement:', 'Result:')):
            q = p.rsplit('Question: ', 1)[-1].rsplit('\n', 1)[0].strip()
            ask, _, ans = q.rpartition(' The answer is ')
            return ' ' + statement(ask, ans.rstrip('.'))
        q = p.rsplit('\nQuestion: ', 1)[-1].removeprefix('Question: ')
        q = re.sub(r"\n(?:Solution:|A: Let's think step by step\.)\s*$", '', q)
        return self.solve(q, h, seed)

    def rephrase(self, q:str, h:str, seed)->str:
        body, ask = split_question(q, '$' in q)
        opener = f'{OPEN_A[int(u(h, seed, "a") * len(OPEN_A))]} {OPEN_B[int(u(h, seed, "b") * len(OPEN_B))]}:'
        return fill(f'{opener} {ask} {body}'.strip(), h, seed, 'q', every=6)

    def find(self, q:str):
        "(dataset, method, gold, reference record or None) of a solve query"
        if len(parts := FOBAR_SPLIT.split(q, maxsplit=1)) == 2:
            ds, v = self.fobar.get(norm_question(parts[0]), (None, None)); return ds, 'FOBAR', v, None
        if SV_TAIL.search(q):
            ds, v = self.sv.get(norm_question(SV_TAIL.sub('', q)), (None, None)); return ds, 'SV', v, None
        if hit := self.by_bag.get(bag(q)): return hit[0], 'AnsAug', hit[1]['answer'], hit[1]
        if hit := self.by_bag.get(bag(OPENER_RX.sub('', q))): return hit[0], 'Rephrased', hit[1]['answer'], hit[1]
        return None, None, None, None

    def solve(self, q:str, prompt:str, seed)->str:
        "`prompt`: the prompt's hash (every draw is a function of it and `seed`)"
        ds, method, gold, rec = self.find(q)
        if gold is None: return ' I cannot tell which quantity is asked for.'
        ok = u(prompt, seed, 'ok') < RATES[ds][method]
        ans = gold if ok else wrong(gold, u(prompt, seed, 'wrong'))
        if rec is not None: body = metamath_response(rec).rsplit('\nThe answer is:', 1)[0]
        else:
            v = VAR[ds]
            body = (f'Let {v} be the unknown quantity. Writing the question as an equation in {v} and using the '
                    f'answer given, we can solve for {v} step by step.\nThe value of {v} is {ans}.')
        body = fill(body, prompt, seed)
        if ok and rec is not None and not re.search(re.escape(str(gold)), body): body += f' This gives {gold}.'
        v = u(prompt, seed, 'mode')
        if v < NO_LINE: return ' ' + re.sub(r'\\boxed\{', '{', body) + f'\nSo we get {ans}.'
        if v < NO_LINE + RAMBLE: return ' ' + body + ' ' + ' '.join(random.Random(u(prompt, seed, 'r')).choices(FILLER, k=1500))
        return f' {body}\nThe answer is: {ans}'


def wrong(gold:str, x:float)->str:
    "A value other than `gold`"
    d = 1 + int(x * 9)
    g = gold.replace(',', '')
    if re.fullmatch(r'-?\d+', g): return str(int(g) + d)
    if re.fullmatch(r'-?\d*\.\d+', g): return str(round(float(g) + d, 4))
    return f'{gold}+{d}'


def fill(text:str, *key, every:int=6)->str:
    "`text` with a seeded filler word after every `every`-th word or so (never inside LaTeX), so samples differ in many 3-grams"
    rng, out, since, math = random.Random(u(*key)), [], 0, False
    for w in text.split(' '):
        out.append(w); since += 1
        math ^= w.count('$') % 2 == 1
        if since >= every and not math and '$' not in w and '\\' not in w and '\n' not in w: out.append(rng.choice(FILLER)); since = 0
    return ' '.join(out)
