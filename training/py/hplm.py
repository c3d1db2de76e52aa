"""hBERT and hGPT in PyTorch, with the runtime's exact layouts and the PLOT (hPLM) path.

Parameter names, shapes and maths follow Hugging Face BertModel (post-LN, erf GELU, eps 1e-12)
and GPT2LMHeadModel (pre-LN, tanh GELU, eps 1e-5, tied LM head), so the state dict is written
to model.safetensors as it is. The PLOT path reproduces src/model/cpu/plot-ref.ts:
- hBERT: position i's window (x[i-1], x[i], x[i+1]) (pad outside the sequence) runs alone
  through embeddings (positions 0..2, type 0) and layers 0..S-1; the split state is
  T(i)[1] + T(i+1)[0] + T(i-1)[2] (terms outside the sequence dropped) + position i + type 0,
  then LayerNorm with the domain's weights (default: encoder.layer.S-1.output.LayerNorm).
- hGPT: position i's window (x[i-2], x[i-1], x[i]) (eos before the start) runs alone at
  positions 0..2 through layers 0..S-1; its last slot is row i of the split state; the upper
  layers get no position embedding.
Every projection can carry LoRA adapters (delta = (alpha/r) (x A^T) B^T), keyed by the PEFT
module path ("encoder.layer.3.attention.self.query", "h.1.attn.c_attn").
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoraLinear(nn.Module):
    """A base projection (frozen or not) plus any number of named LoRA adapters, one active."""

    def __init__(self, in_dim, out_dim, conv1d):
        super().__init__()
        self.in_dim, self.out_dim, self.conv1d = in_dim, out_dim, conv1d
        # HF layouts: Linear weight [out, in]; GPT-2's Conv1D weight [in, out].
        self.weight = nn.Parameter(torch.empty((in_dim, out_dim) if conv1d else (out_dim, in_dim)))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.lora = nn.ModuleDict()
        self.scales = {}
        self.active = []

    def add_lora(self, name, r, alpha, gen):
        m = nn.Module()
        m.A = nn.Parameter(torch.randn(r, self.in_dim, generator=gen) / math.sqrt(self.in_dim))
        m.B = nn.Parameter(torch.zeros(self.out_dim, r))
        self.lora[name] = m
        self.scales[name] = alpha / r

    def forward(self, x):
        y = x @ self.weight + self.bias if self.conv1d else F.linear(x, self.weight, self.bias)
        for name in self.active:
            if name in self.lora:
                m = self.lora[name]
                y = y + self.scales[name] * ((x @ m.A.t()) @ m.B.t())
        return y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


class BertLayer(nn.Module):
    def __init__(self, H, I, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = LoraLinear(H, H, False), LoraLinear(H, H, False), LoraLinear(H, H, False)
        self.attn_out = LoraLinear(H, H, False)
        self.ln1 = nn.LayerNorm(H, eps=1e-12)
        self.inter = LoraLinear(H, I, False)
        self.out = LoraLinear(I, H, False)
        self.ln2 = nn.LayerNorm(H, eps=1e-12)

    def forward(self, x, mask):
        B, T, H = x.shape
        d = H // self.heads
        q = self.query(x).view(B, T, self.heads, d).transpose(1, 2)
        k = self.key(x).view(B, T, self.heads, d).transpose(1, 2)
        v = self.value(x).view(B, T, self.heads, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        if mask is not None:
            s = s.masked_fill(~mask[:, None, None, :], -1e9)
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = self.ln1(x + self.attn_out(a))
        return self.ln2(x + self.out(F.gelu(self.inter(x))))

    def modules_by_path(self, l):
        p = f'encoder.layer.{l}.'
        return {p + 'attention.self.query': self.query, p + 'attention.self.key': self.key, p + 'attention.self.value': self.value,
                p + 'attention.output.dense': self.attn_out, p + 'intermediate.dense': self.inter, p + 'output.dense': self.out}


class Bert(nn.Module):
    def __init__(self, V, H, L, heads, I, P, split):
        super().__init__()
        self.V, self.H, self.L, self.P, self.split = V, H, L, P, split
        self.word = nn.Embedding(V, H)
        self.pos = nn.Embedding(P, H)
        self.tok_type = nn.Embedding(2, H)
        self.emb_ln = nn.LayerNorm(H, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(H, I, heads) for _ in range(L)])
        self.pooler = nn.Linear(H, H)
        # MLM head (not shipped): transform + tied decoder.
        self.mlm_dense = nn.Linear(H, H)
        self.mlm_ln = nn.LayerNorm(H, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(V))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, LoraLinear):
                nn.init.normal_(m.weight, std=0.02)

    def lora_modules(self):
        out = {}
        for l, layer in enumerate(self.layers):
            out.update(layer.modules_by_path(l))
        return out

    def embed(self, ids, positions):
        return self.emb_ln(self.word(ids) + self.pos(positions) + self.tok_type.weight[0])

    def full_hidden(self, ids, mask):
        T = ids.shape[1]
        x = self.embed(ids, torch.arange(T).expand_as(ids))
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def plot_split_state(self, ids, lengths, ln=None):
        """The split state from tri-gram windows: ids [B, T] padded with 0, lengths [B]."""
        B, T = ids.shape
        pad = torch.zeros(B, 1, dtype=ids.dtype)
        ext = torch.cat([pad, ids, pad], 1)
        windows = torch.stack([ext[:, :-2], ext[:, 1:-1], ext[:, 2:]], -1).reshape(B * T, 3)
        w = self.embed(windows, torch.arange(3).expand(B * T, 3))
        for layer in self.layers[: self.split]:
            w = layer(w, None)
        w = w.view(B, T, 3, self.H)
        valid = (torch.arange(T)[None, :] < lengths[:, None]).float()[..., None]
        rep = w[:, :, 1]
        nxt = torch.zeros_like(rep)
        nxt[:, :-1] = w[:, 1:, 0] * valid[:, 1:]
        prv = torch.zeros_like(rep)
        prv[:, 1:] = w[:, :-1, 2]
        rep = rep + nxt + prv + self.pos.weight[:T][None] + self.tok_type.weight[0]
        norm = ln if ln is not None else self.layers[self.split - 1].ln2
        return norm(rep)

    def upper(self, x, mask):
        for layer in self.layers[self.split:]:
            x = layer(x, mask)
        return x

    def hidden(self, ids, lengths, plot, ln=None):
        mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        if plot:
            return self.upper(self.plot_split_state(ids, lengths, ln), mask)
        return self.full_hidden(ids, mask)

    def mlm_logits(self, h):
        return gelu_erf_ln(self, h) @ self.word.weight.t() + self.mlm_bias

    def pooled(self, h):
        return torch.tanh(self.pooler(h[:, 0]))

    def state_dict_hf(self):
        sd = {'bert.embeddings.word_embeddings.weight': self.word.weight, 'bert.embeddings.position_embeddings.weight': self.pos.weight,
              'bert.embeddings.token_type_embeddings.weight': self.tok_type.weight,
              'bert.embeddings.LayerNorm.weight': self.emb_ln.weight, 'bert.embeddings.LayerNorm.bias': self.emb_ln.bias}
        for l, layer in enumerate(self.layers):
            p = f'bert.encoder.layer.{l}.'
            for name, m in layer.modules_by_path(l).items():
                sd['bert.' + name + '.weight'] = m.weight
                sd['bert.' + name + '.bias'] = m.bias
            sd[p + 'attention.output.LayerNorm.weight'] = layer.ln1.weight
            sd[p + 'attention.output.LayerNorm.bias'] = layer.ln1.bias
            sd[p + 'output.LayerNorm.weight'] = layer.ln2.weight
            sd[p + 'output.LayerNorm.bias'] = layer.ln2.bias
        sd['bert.pooler.dense.weight'] = self.pooler.weight
        sd['bert.pooler.dense.bias'] = self.pooler.bias
        return sd


def gelu_erf_ln(model, h):
    return model.mlm_ln(F.gelu(model.mlm_dense(h)))


class GptBlock(nn.Module):
    def __init__(self, H, I, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(H, eps=1e-5)
        self.c_attn = LoraLinear(H, 3 * H, True)
        self.c_proj = LoraLinear(H, H, True)
        self.ln_2 = nn.LayerNorm(H, eps=1e-5)
        self.c_fc = LoraLinear(H, I, True)
        self.mlp_proj = LoraLinear(I, H, True)

    def forward(self, x):
        B, T, H = x.shape
        d = H // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(H, dim=-1)
        q = q.view(B, T, self.heads, d).transpose(1, 2)
        k = k.view(B, T, self.heads, d).transpose(1, 2)
        v = v.view(B, T, self.heads, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        s = s.masked_fill(~causal, -1e9)
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = x + self.c_proj(a)
        return x + self.mlp_proj(gelu_tanh(self.c_fc(self.ln_2(x))))

    def modules_by_path(self, l):
        p = f'h.{l}.'
        return {p + 'attn.c_attn': self.c_attn, p + 'attn.c_proj': self.c_proj, p + 'mlp.c_fc': self.c_fc, p + 'mlp.c_proj': self.mlp_proj}


class Gpt(nn.Module):
    def __init__(self, V, H, L, heads, I, P, split, eos):
        super().__init__()
        self.V, self.H, self.L, self.P, self.split, self.eos = V, H, L, P, split, eos
        self.wte = nn.Embedding(V, H)
        self.wpe = nn.Embedding(P, H)
        self.h = nn.ModuleList([GptBlock(H, I, heads) for _ in range(L)])
        self.ln_f = nn.LayerNorm(H, eps=1e-5)
        for m in self.modules():
            if isinstance(m, (nn.Embedding, LoraLinear)):
                nn.init.normal_(m.weight, std=0.02)
        for block in self.h:
            for m in (block.c_proj, block.mlp_proj):
                nn.init.normal_(m.weight, std=0.02 / math.sqrt(2 * L))

    def lora_modules(self):
        out = {}
        for l, block in enumerate(self.h):
            out.update(block.modules_by_path(l))
        return out

    def split_state(self, ids, plot):
        B, T = ids.shape
        if not plot:
            x = self.wte(ids) + self.wpe(torch.arange(T))[None]
            for block in self.h[: self.split]:
                x = block(x)
            return x
        pad = torch.full((B, 2), self.eos, dtype=ids.dtype)
        ext = torch.cat([pad, ids], 1)
        windows = torch.stack([ext[:, :-2], ext[:, 1:-1], ext[:, 2:]], -1).reshape(B * T, 3)
        w = self.wte(windows) + self.wpe.weight[:3][None]
        for block in self.h[: self.split]:
            w = block(w)
        return w[:, 2].view(B, T, self.H)

    def logits(self, ids, plot):
        return self.upper_logits(self.split_state(ids, plot))

    def upper_logits(self, x):
        for block in self.h[self.split:]:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()

    @torch.no_grad()
    def stream_split_states(self, stream, chunk=8192):
        """PLOT split state of every position of a token stream (the window reaches back across
        chunk borders; eos before the stream's start), [N, H]. Exact for frozen lower layers."""
        ext = torch.cat([torch.full((2,), self.eos, dtype=torch.long), torch.as_tensor(stream, dtype=torch.long)])
        out = []
        for a in range(0, len(stream), chunk):
            b = min(len(stream), a + chunk)
            windows = torch.stack([ext[a:b], ext[a + 1:b + 1], ext[a + 2:b + 2]], -1)
            w = self.wte(windows) + self.wpe.weight[:3][None]
            for block in self.h[: self.split]:
                w = block(w)
            out.append(w[:, 2])
        return torch.cat(out)

    def state_dict_hf(self):
        sd = {'transformer.wte.weight': self.wte.weight, 'transformer.wpe.weight': self.wpe.weight,
              'transformer.ln_f.weight': self.ln_f.weight, 'transformer.ln_f.bias': self.ln_f.bias}
        for l, block in enumerate(self.h):
            p = f'transformer.h.{l}.'
            for name, m in block.modules_by_path(l).items():
                sd['transformer.' + name + '.weight'] = m.weight
                sd['transformer.' + name + '.bias'] = m.bias
            sd[p + 'ln_1.weight'], sd[p + 'ln_1.bias'] = block.ln_1.weight, block.ln_1.bias
            sd[p + 'ln_2.weight'], sd[p + 'ln_2.bias'] = block.ln_2.weight, block.ln_2.bias
        return sd


def load_hf(model, tensors):
    """Copies an HF-named tensor map (from read_safetensors) into the model."""
    sd = model.state_dict_hf()
    with torch.no_grad():
        for k, p in sd.items():
            p.copy_(tensors[k])


def set_active(model, names):
    for m in model.lora_modules().values():
        m.active = list(names)


def write_safetensors(path, tensors, metadata=None):
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    import numpy as np
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        assert info['dtype'] == 'F32', info['dtype']
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).copy()).view(info['shape'])
    return out
