"""The training stages (run by training/run.mjs; each writes its files and a JSON report).

  train.py pretrain-bert WORK OUT_DIR        hBERT: MLM on the full and the PLOT path
  train.py pretrain-gpt WORK OUT_DIR         hGPT: causal LM on the full and the PLOT path
  train.py dapt MODEL WORK DOMAIN            a domain's lower-layer LoRA (PLOT path, base frozen)
  train.py task WORK TASK                    hBERT task: hPLM tenant (PLOT path) + full reference
  train.py lm-tenant WORK NAME DOMAIN DOCS   hGPT tenant: upper-layer LoRA on the PLOT path
  train.py bow WORK TASK                     bag-of-words logistic regression floor

Hyper-parameters live in HP below; seeds are fixed per stage; the thread count is $HMI_THREADS.
"""
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from hplm import Bert, Gpt, load_hf, read_safetensors, set_active, write_safetensors  # noqa: E402

HP = {
    'vocab': 8192, 'hidden': 128, 'layers': 4, 'heads': 4, 'intermediate': 512, 'split': 2,
    'bert_positions': 128, 'gpt_positions': 256,
    'pretrain_bert': {'steps': 1000, 'batch': 32, 'seq': 128, 'lr': 1e-3, 'warmup': 80, 'mask': 0.15, 'seed': 1},
    'pretrain_gpt': {'steps': 900, 'batch': 8, 'seq': 256, 'lr': 1.5e-3, 'warmup': 60, 'seed': 2},
    'corpus_weights': {'mail': 0.4, 'speeches': 0.45, 'moby': 0.15},
    'dapt': {'steps': 150, 'rank': 8, 'alpha': 16, 'lr': 2e-3, 'seed': 3},
    'task': {'epochs': 2, 'batch': 32, 'lr': 2e-3, 'seed': 4, 'max_train': 3000,
             'ranks': {'spam': 4, 'party': 16, 'era': 8}},
    'lm_tenant': {'steps': 120, 'batch': 8, 'seq': 256, 'lr': 3e-3, 'seed': 5, 'rank': 8, 'ranks': {'moby-dick': 16}},
    'bow': {'vocab': 20000, 'epochs': 30, 'lr': 0.5, 'l2': 1e-4, 'seed': 6},
}

# $HMI_HP (JSON) overrides entries, e.g. for a quick smoke run of the chain: {"task": {"epochs": 1}}.
for _k, _v in json.loads(os.environ.get('HMI_HP', '{}')).items():
    HP[_k] = {**HP[_k], **_v} if isinstance(HP.get(_k), dict) else _v

DOMAIN_CORPUS = {'email': 'mail', 'politics': 'speeches', 'literature': 'moby'}
BERT_TARGETS_ALL = ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense']
GPT_TARGETS_ALL = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']

torch.set_num_threads(int(os.environ.get('HMI_THREADS', '2')))


def seed_all(s):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def load_ids(work, name):
    ids = np.fromfile(f'{work}/ids/{name}.i32', dtype=np.int32)
    with open(f'{work}/ids/{name}.json') as f:
        index = json.load(f)
    return ids, index


def stream(work, tok, corpus, split, sep):
    """One split's documents concatenated, each followed by `sep`."""
    ids, index = load_ids(work, f'{tok}-{corpus}')
    parts = []
    for d in index:
        if d['split'] == split:
            parts.append(ids[d['start']:d['start'] + d['len']])
            parts.append(np.array([sep], dtype=np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def vocab_ids(work, tok):
    with open(f'{work}/tokenizers/{tok}/tokenizer.json', encoding='utf-8') as f:
        return json.load(f)['model']['vocab']


def report(path, rep):
    with open(path, 'w') as f:
        json.dump(rep, f, indent=2)
    print(json.dumps(rep), flush=True)


def lr_at(step, steps, lr, warmup):
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def new_bert():
    return Bert(HP['vocab'], HP['hidden'], HP['layers'], HP['heads'], HP['intermediate'], HP['bert_positions'], HP['split'])


def new_gpt(eos):
    return Gpt(HP['vocab'], HP['hidden'], HP['layers'], HP['heads'], HP['intermediate'], HP['gpt_positions'], HP['split'], eos)


def sample_windows(rng, streams, weights, n, length):
    names = list(streams)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    p /= p.sum()
    out = np.zeros((n, length), dtype=np.int64)
    for b in range(n):
        s = streams[names[rng.choice(len(names), p=p)]]
        st = rng.integers(0, len(s) - length)
        out[b] = s[st:st + length]
    return torch.from_numpy(out)


def mask_tokens(rng, ids, lengths, v, rate, special):
    """BERT masking: `rate` of the real non-special positions; 80% [MASK], 10% random, 10% kept."""
    ids = ids.clone()
    B, T = ids.shape
    real = torch.arange(T)[None, :] < lengths[:, None]
    cand = real & ~torch.isin(ids, torch.tensor(sorted(special)))
    pick = cand & torch.from_numpy(rng.random((B, T)) < rate)
    targets = ids[pick]
    roll = torch.from_numpy(rng.random((B, T)))
    ids[pick & (roll < 0.8)] = v['[MASK]']
    rnd = pick & (roll >= 0.8) & (roll < 0.9)
    ids[rnd] = torch.from_numpy(rng.integers(5, HP['vocab'], size=int(rnd.sum())))
    return ids, pick, targets


def bert_batch(rng, streams, weights, B, T, v):
    body = sample_windows(rng, streams, weights, B, T - 2)
    ids = torch.cat([torch.full((B, 1), v['[CLS]']), body, torch.full((B, 1), v['[SEP]'])], 1)
    return ids, torch.full((B,), T)


def mlm_loss(model, ids, lengths, pick, targets, plot, ln=None):
    h = model.hidden(ids, lengths, plot, ln)
    return F.cross_entropy(model.mlm_logits(h[pick]), targets)


def pretrain_bert(work, out_dir):
    hp = HP['pretrain_bert']
    seed_all(hp['seed'])
    rng = np.random.default_rng(hp['seed'])
    v = vocab_ids(work, 'hbert')
    streams = {c: stream(work, 'hbert', c, 'train', v['[SEP]']) for c in DOMAIN_CORPUS.values()}
    val = {c: stream(work, 'hbert', c, 'validation', v['[SEP]']) for c in DOMAIN_CORPUS.values()}
    model = new_bert()
    opt = torch.optim.AdamW(model.parameters(), lr=hp['lr'], weight_decay=0.01)
    special = {v['[CLS]'], v['[SEP]'], v['[PAD]']}
    t0 = time.time()
    for step in range(hp['steps']):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, hp['steps'], hp['lr'], hp['warmup'])
        ids, lengths = bert_batch(rng, streams, HP['corpus_weights'], hp['batch'], hp['seq'], v)
        mids, pick, targets = mask_tokens(rng, ids, lengths, v, hp['mask'], special)
        lf = mlm_loss(model, mids, lengths, pick, targets, False)
        lp = mlm_loss(model, mids, lengths, pick, targets, True)
        opt.zero_grad()
        (lf + lp).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            print(f'bert step {step} full {lf.item():.3f} plot {lp.item():.3f} {time.time() - t0:.0f}s', flush=True)
    metrics = eval_bert_mlm(model, val, v, special)
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(f'{out_dir}/model.safetensors', model.state_dict_hf(), {'format': 'pt'})
    torch.save(model.state_dict(), f'{work}/hbert-full.pt')
    report(f'{work}/report-pretrain-bert.json', {'stage': 'pretrain-bert', 'hp': hp, 'seconds': round(time.time() - t0), 'validation': metrics})


@torch.no_grad()
def eval_bert_mlm(model, val, v, special, batches=8):
    model.eval()
    rng = np.random.default_rng(99)
    out = {}
    for plot in (False, True):
        tot, n, correct = 0.0, 0, 0
        for _ in range(batches):
            ids, lengths = bert_batch(rng, val, HP['corpus_weights'], 32, 128, v)
            mids, pick, targets = mask_tokens(rng, ids, lengths, v, 0.15, special)
            logits = model.mlm_logits(model.hidden(mids, lengths, plot)[pick])
            tot += F.cross_entropy(logits, targets, reduction='sum').item()
            correct += (logits.argmax(-1) == targets).sum().item()
            n += len(targets)
        out['plot' if plot else 'full'] = {'mlm_loss': round(tot / n, 4), 'mlm_accuracy': round(correct / n, 4)}
    model.train()
    return out


def gpt_eos(work):
    return vocab_ids(work, 'hgpt')['<|endoftext|>']


def pretrain_gpt(work, out_dir):
    hp = HP['pretrain_gpt']
    seed_all(hp['seed'])
    rng = np.random.default_rng(hp['seed'])
    eos = gpt_eos(work)
    streams = {c: stream(work, 'hgpt', c, 'train', eos) for c in DOMAIN_CORPUS.values()}
    val = {c: stream(work, 'hgpt', c, 'validation', eos) for c in DOMAIN_CORPUS.values()}
    model = new_gpt(eos)
    opt = torch.optim.AdamW(model.parameters(), lr=hp['lr'], weight_decay=0.01)
    t0 = time.time()
    for step in range(hp['steps']):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, hp['steps'], hp['lr'], hp['warmup'])
        ids = sample_windows(rng, streams, HP['corpus_weights'], hp['batch'], hp['seq'] + 1)
        x, y = ids[:, :-1], ids[:, 1:]
        lf = F.cross_entropy(model.logits(x, False).reshape(-1, HP['vocab']), y.reshape(-1))
        lp = F.cross_entropy(model.logits(x, True).reshape(-1, HP['vocab']), y.reshape(-1))
        opt.zero_grad()
        (lf + lp).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            print(f'gpt step {step} full {lf.item():.3f} plot {lp.item():.3f} {time.time() - t0:.0f}s', flush=True)
    metrics = {c: eval_gpt_ppl(model, s) for c, s in val.items()}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(f'{out_dir}/model.safetensors', model.state_dict_hf(), {'format': 'pt'})
    torch.save(model.state_dict(), f'{work}/hgpt-full.pt')
    report(f'{work}/report-pretrain-gpt.json', {'stage': 'pretrain-gpt', 'hp': hp, 'seconds': round(time.time() - t0), 'validation_perplexity': metrics})


@torch.no_grad()
def eval_gpt_ppl(model, s, windows=16, length=257, names=()):
    model.eval()
    set_active(model, names)
    starts = np.linspace(0, len(s) - length - 1, windows).astype(int)
    ids = torch.from_numpy(np.stack([s[i:i + length] for i in starts]).astype(np.int64))
    out = {}
    for plot in (False, True):
        logits = model.logits(ids[:, :-1], plot)
        out['plot' if plot else 'full'] = round(math.exp(F.cross_entropy(logits.reshape(-1, HP['vocab']), ids[:, 1:].reshape(-1)).item()), 3)
    model.train()
    return out


def load_base(work, family):
    if family == 'bert':
        model = new_bert()
        model.load_state_dict(torch.load(f'{work}/hbert-full.pt'))
    else:
        model = new_gpt(gpt_eos(work))
        model.load_state_dict(torch.load(f'{work}/hgpt-full.pt'))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def add_lora(model, name, layers, rank, alpha, seed):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for path, m in model.lora_modules().items():
        layer = int(path.split('.')[2] if path.startswith('encoder') else path.split('.')[1])
        if layer in layers:
            m.add_lora(name, rank, alpha, gen)
            params += [m.lora[name].A, m.lora[name].B]
    return params


def lora_tensors(model, name):
    out = {}
    for path, m in model.lora_modules().items():
        if name in m.lora:
            out[f'{path}.lora_A'] = m.lora[name].A
            out[f'{path}.lora_B'] = m.lora[name].B
    return out


def load_lora(model, name, path):
    t = read_safetensors(path)
    gen = torch.Generator().manual_seed(0)
    for p, m in model.lora_modules().items():
        if f'{p}.lora_A' in t:
            A, B = t[f'{p}.lora_A'], t[f'{p}.lora_B']
            m.add_lora(name, A.shape[0], 1.0, gen)
            m.scales[name] = 1.0
            with torch.no_grad():
                m.lora[name].A.copy_(A)
                m.lora[name].B.copy_(B)
            m.lora[name].A.requires_grad_(False)
            m.lora[name].B.requires_grad_(False)


def save_lora(model, name, path, meta):
    """Adapter tensors with the scale folded into B (alpha = r on export), so no scale is lost."""
    t = {}
    for k, v in lora_tensors(model, name).items():
        t[k] = v
    for p, m in model.lora_modules().items():
        if name in m.lora:
            t[f'{p}.lora_B'] = m.lora[name].B * m.scales[name]
    write_safetensors(path, t, {'meta': json.dumps(meta)})


def dapt(family, work, domain):
    hp = HP['dapt']
    seed_all(hp['seed'])
    rng = np.random.default_rng(hp['seed'] + sum(map(ord, domain)))
    model = load_base(work, family)
    params = add_lora(model, domain, range(HP['split']), hp['rank'], hp['alpha'], hp['seed'])
    set_active(model, [domain])
    opt = torch.optim.AdamW(params, lr=hp['lr'], weight_decay=0.0)
    corpus = DOMAIN_CORPUS[domain]
    t0 = time.time()
    if family == 'bert':
        v = vocab_ids(work, 'hbert')
        special = {v['[CLS]'], v['[SEP]'], v['[PAD]']}
        tr = {corpus: stream(work, 'hbert', corpus, 'train', v['[SEP]'])}
        va = {corpus: stream(work, 'hbert', corpus, 'validation', v['[SEP]'])}
        before = eval_bert_domain(model, va, v, special, [])
        set_active(model, [domain])
        for step in range(hp['steps']):
            for g in opt.param_groups:
                g['lr'] = lr_at(step, hp['steps'], hp['lr'], 20)
            ids, lengths = bert_batch(rng, tr, {corpus: 1}, 32, 128, v)
            mids, pick, targets = mask_tokens(rng, ids, lengths, v, 0.15, special)
            loss = mlm_loss(model, mids, lengths, pick, targets, True)
            opt.zero_grad()
            loss.backward()
            opt.step()
        after = eval_bert_domain(model, va, v, special, [domain])
    else:
        eos = gpt_eos(work)
        tr = {corpus: stream(work, 'hgpt', corpus, 'train', eos)}
        va = stream(work, 'hgpt', corpus, 'validation', eos)
        before = eval_gpt_ppl(model, va)
        set_active(model, [domain])
        for step in range(hp['steps']):
            for g in opt.param_groups:
                g['lr'] = lr_at(step, hp['steps'], hp['lr'], 20)
            ids = sample_windows(rng, tr, {corpus: 1}, 8, 257)
            loss = F.cross_entropy(model.logits(ids[:, :-1], True).reshape(-1, HP['vocab']), ids[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        after = eval_gpt_ppl(model, va, names=[domain])
    tag = 'hbert' if family == 'bert' else 'hgpt'
    os.makedirs(f'{work}/adapters', exist_ok=True)
    meta = {'kind': 'domain', 'domain': domain, 'rank': hp['rank'], 'layers': list(range(HP['split']))}
    save_lora(model, domain, f'{work}/adapters/{tag}-domain-{domain}.safetensors', meta)
    report(f'{work}/report-dapt-{tag}-{domain}.json', {'stage': 'dapt', 'model': tag, 'domain': domain, 'hp': hp, 'seconds': round(time.time() - t0),
                                                         'validation_plot_path': {'base': before, 'domain': after}})


@torch.no_grad()
def eval_bert_domain(model, va, v, special, names):
    set_active(model, names)
    model.eval()
    rng = np.random.default_rng(7)
    tot, n = 0.0, 0
    for _ in range(6):
        ids, lengths = bert_batch(rng, va, {k: 1 for k in va}, 32, 128, v)
        mids, pick, targets = mask_tokens(rng, ids, lengths, v, 0.15, special)
        tot += F.cross_entropy(model.mlm_logits(model.hidden(mids, lengths, True)[pick]), targets, reduction='sum').item()
        n += len(targets)
    model.train()
    return {'mlm_loss': round(tot / n, 4)}


def task_examples(work, task):
    ids, index = load_ids(work, f'task-{task}')
    with open(f'{work}/ids/task-{task}.labels.json') as f:
        info = json.load(f)
    by = {'train': [], 'validation': [], 'test': []}
    for e in index:
        by[e['split']].append((ids[e['start']:e['start'] + e['len']], e['label']))
    return info, by


def pad_batch(items):
    T = max(len(x) for x, _ in items)
    ids = torch.zeros(len(items), T, dtype=torch.long)
    lengths = torch.zeros(len(items), dtype=torch.long)
    for i, (x, _) in enumerate(items):
        ids[i, :len(x)] = torch.from_numpy(x.astype(np.int64))
        lengths[i] = len(x)
    labels = torch.tensor([y for _, y in items])
    return ids, lengths, labels


class Head(torch.nn.Module):
    """The tenant's classifier over the BASE pooler (frozen): the runtime's batched heads run
    one shared pooler and a classifier per tenant, so a tenant's own pooler would not be served."""

    def __init__(self, H, n, pooler):
        super().__init__()
        self.pooler = pooler
        self.classifier = torch.nn.Linear(H, n)
        torch.nn.init.normal_(self.classifier.weight, std=0.02)
        torch.nn.init.zeros_(self.classifier.bias)

    def forward(self, h):
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))

    def trainable(self):
        return list(self.classifier.parameters())


@torch.no_grad()
def with_split_states(model, items):
    """(ids, label, split state [len, H]) per example: the PLOT path's lower layers are frozen
    for a task, so their output is computed once instead of every epoch."""
    out = []
    for b in range(0, len(items), 64):
        chunk = items[b:b + 64]
        ids, lengths, _ = pad_batch(chunk)
        states = model.plot_split_state(ids, lengths)
        out += [(x, y, states[i, :len(x)].clone()) for i, (x, y) in enumerate(chunk)]
    return out


def forward_hidden(model, items, plot):
    ids, lengths, labels = pad_batch([(x, y) for x, y, *_ in items])
    if not plot:
        return model.hidden(ids, lengths, False), labels
    T = ids.shape[1]
    x = torch.zeros(len(items), T, model.H)
    for i, it in enumerate(items):
        x[i, :len(it[0])] = it[2]
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return model.upper(x, mask), labels


def train_classifier(model, head, params, by, plot, hp, rng, name):
    """AdamW over the train split; picks the epoch with the best validation accuracy."""
    train = list(by['train'])
    if len(train) > hp['max_train']:
        idx = rng.choice(len(train), hp['max_train'], replace=False)
        train = [train[i] for i in sorted(idx)]
    val = by['validation'][:: max(1, len(by['validation']) // 1500)]
    if plot:
        train, val = with_split_states(model, train), with_split_states(model, val)
    opt = torch.optim.AdamW(params + head.trainable(), lr=hp['lr'], weight_decay=0.01)
    steps = hp['epochs'] * math.ceil(len(train) / hp['batch'])
    step = 0
    best = (-1.0, None)
    history = []
    for epoch in range(hp['epochs']):
        order = rng.permutation(len(train))
        for b in range(0, len(order), hp['batch']):
            for g in opt.param_groups:
                g['lr'] = lr_at(step, steps, hp['lr'], 30)
            h, labels = forward_hidden(model, [train[i] for i in order[b:b + hp['batch']]], plot)
            loss = F.cross_entropy(head(h), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        acc = accuracy(model, head, val, plot)
        history.append({'epoch': epoch + 1, 'validation_accuracy': acc})
        print(f'{name} epoch {epoch + 1} val {acc:.4f}', flush=True)
        if acc > best[0]:
            best = (acc, {k: v.detach().clone() for k, v in snapshot(model, head, name).items()})
    restore(model, head, name, best[1])
    return best[0], history


def snapshot(model, head, name):
    out = {f'head.{k}': v for k, v in head.classifier.state_dict().items()}
    for k, v in lora_tensors(model, name).items():
        out[k] = v
    return out


def restore(model, head, name, snap):
    with torch.no_grad():
        head.classifier.load_state_dict({k[5:]: v for k, v in snap.items() if k.startswith('head.')})
        for p, m in model.lora_modules().items():
            if name in m.lora:
                m.lora[name].A.copy_(snap[f'{p}.lora_A'])
                m.lora[name].B.copy_(snap[f'{p}.lora_B'])


@torch.no_grad()
def accuracy(model, head, items, plot):
    model.eval()
    correct = 0
    for b in range(0, len(items), 64):
        h, labels = forward_hidden(model, items[b:b + 64], plot)
        correct += (head(h).argmax(-1) == labels).sum().item()
    model.train()
    return correct / len(items)


def task(work, task_name):
    hp = HP['task']
    info, by = task_examples(work, task_name)
    rank = hp['ranks'][task_name]
    reports = {}
    t0 = time.time()
    for variant in ('hplm', 'full'):
        seed_all(hp['seed'])
        rng = np.random.default_rng(hp['seed'])
        model = load_base(work, 'bert')
        domain = info['domain']
        plot = variant == 'hplm'
        name = f'{task_name}-{variant}'
        if plot:
            load_lora(model, domain, f'{work}/adapters/hbert-domain-{domain}.safetensors')
            layers = range(HP['split'], HP['layers'])
        else:
            layers = range(HP['layers'])
        params = add_lora(model, name, layers, rank, 2 * rank, hp['seed'])
        set_active(model, ([domain] if plot else []) + [name])
        head = Head(HP['hidden'], len(info['labels']), model.pooler)
        val, history = train_classifier(model, head, params, by, plot, hp, rng, name)
        meta = {'kind': 'task', 'task': task_name, 'variant': variant, 'domain': domain if plot else None, 'labels': info['labels'],
                'rank': rank, 'layers': list(layers)}
        t = {k: v for k, v in lora_tensors(model, name).items()}
        for p, m in model.lora_modules().items():
            if name in m.lora:
                t[f'{p}.lora_B'] = m.lora[name].B * m.scales[name]
        t['classifier.weight'], t['classifier.bias'] = head.classifier.weight, head.classifier.bias
        write_safetensors(f'{work}/adapters/hbert-task-{name}.safetensors', t, {'meta': json.dumps(meta)})
        reports[variant] = {'validation_accuracy': val, 'history': history, 'train_examples': min(len(by['train']), hp['max_train'])}
    report(f'{work}/report-task-{task_name}.json', {'stage': 'task', 'task': task_name, 'labels': info['labels'], 'hp': hp, 'rank': rank,
                                                     'seconds': round(time.time() - t0), **reports})


def lm_tenant(work, name, domain, docs_spec):
    """docs_spec: 'speeches:<slug>' or 'moby'. Trains on that text's train split only."""
    hp = HP['lm_tenant']
    seed_all(hp['seed'])
    rng = np.random.default_rng(hp['seed'])
    eos = gpt_eos(work)
    corpus, _, who = docs_spec.partition(':')
    ids, index = load_ids(work, f'hgpt-{corpus}')

    def text(split):
        parts = []
        for d in index:
            if d['split'] == split and (not who or d.get('slug') == who):
                parts += [ids[d['start']:d['start'] + d['len']], np.array([eos], dtype=np.int32)]
        return np.concatenate(parts)
    tr, va = text('train'), text('validation')
    model = load_base(work, 'gpt2')
    load_lora(model, domain, f'{work}/adapters/hgpt-domain-{domain}.safetensors')
    rank = hp['ranks'].get(name, hp['rank'])
    params = add_lora(model, name, range(HP['split'], HP['layers']), rank, 2 * rank, hp['seed'])
    before = eval_gpt_ppl(model, va, windows=8, names=[domain])
    t0 = time.time()
    set_active(model, [domain])
    states = model.stream_split_states(tr)
    set_active(model, [domain, name])
    opt = torch.optim.AdamW(params, lr=hp['lr'], weight_decay=0.0)
    L = hp['seq']
    for step in range(hp['steps']):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, hp['steps'], hp['lr'], 15)
        starts = rng.integers(0, len(tr) - L - 1, size=hp['batch'])
        x = torch.stack([states[st:st + L] for st in starts])
        y = torch.from_numpy(np.stack([tr[st + 1:st + L + 1] for st in starts]).astype(np.int64))
        loss = F.cross_entropy(model.upper_logits(x).reshape(-1, HP['vocab']), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_gpt_ppl(model, va, windows=8, names=[domain, name])
    meta = {'kind': 'lm-tenant', 'tenant': name, 'domain': domain, 'rank': rank, 'layers': list(range(HP['split'], HP['layers'])), 'text': docs_spec}
    save_lora(model, name, f'{work}/adapters/hgpt-tenant-{name}.safetensors', meta)
    report(f'{work}/report-lm-{name}.json', {'stage': 'lm-tenant', 'tenant': name, 'domain': domain, 'hp': hp, 'rank': rank,
                                             'seconds': round(time.time() - t0), 'train_tokens': int(len(tr)),
                                             'validation_perplexity_plot_path': {'base': before['plot'], 'tenant': after['plot']}})


def bow(work, task_name):
    """Multinomial logistic regression on token-count bags (hBERT's WordPiece ids), L2, full batch."""
    hp = HP['bow']
    seed_all(hp['seed'])
    info, by = task_examples(work, task_name)
    V = HP['vocab']

    def bags(items):
        x = torch.zeros(len(items), V)
        for i, (ids, _) in enumerate(items):
            x[i].index_add_(0, torch.from_numpy(ids.astype(np.int64)), torch.ones(len(ids)))
        x = torch.log1p(x)
        return x, torch.tensor([y for _, y in items])
    xtr, ytr = bags(by['train'])
    xva, yva = bags(by['validation'])
    xte, yte = bags(by['test'])
    n = len(info['labels'])
    best = (-1, None)
    for l2 in (1e-5, 1e-4, 1e-3):
        w = torch.zeros(V, n, requires_grad=True)
        b = torch.zeros(n, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1, max_iter=200, line_search_fn='strong_wolfe')

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(xtr @ w + b, ytr) + l2 * (w * w).sum()
            loss.backward()
            return loss
        opt.step(closure)
        with torch.no_grad():
            va = ((xva @ w + b).argmax(-1) == yva).float().mean().item()
            te = ((xte @ w + b).argmax(-1) == yte).float().mean().item()
        if va > best[0]:
            best = (va, {'l2': l2, 'validation_accuracy': round(va, 4), 'test_accuracy': round(te, 4), 'test_n': len(yte)})
    report(f'{work}/report-bow-{task_name}.json', {'stage': 'bow', 'task': task_name, **best[1]})


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'hp':
        print(json.dumps(HP))
    elif cmd == 'pretrain-bert':
        pretrain_bert(sys.argv[2], sys.argv[3])
    elif cmd == 'pretrain-gpt':
        pretrain_gpt(sys.argv[2], sys.argv[3])
    elif cmd == 'dapt':
        dapt(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == 'task':
        task(sys.argv[2], sys.argv[3])
    elif cmd == 'lm-tenant':
        lm_tenant(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif cmd == 'bow':
        bow(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f'unknown stage {cmd}')
