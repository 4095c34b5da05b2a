#!/usr/bin/env python3
"""Writes the tiny Hugging Face checkpoints and reference outputs under src/test/resources/fixtures/.

Each fixture folder gets config.json (as transformers' save_pretrained would write it for that
model_type), model.safetensors (tensor names as save_pretrained writes them) and expected.json: the
logits and completion log-probabilities of an independent float64 PyTorch implementation of the
architecture's forward pass, written here by hand to follow transformers' math.

The Java project never runs this: it was run once and its outputs are committed.

    /usr/bin/python3 src/test/python/make_fixtures.py      # from anywhere; writes next to this script's ../resources

Needs only numpy and torch (CPU; written against Debian's python3-torch 1.13 and numpy 1.24).
Deterministic: fixed seeds, one thread, float64.
"""
import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_ROOT = os.path.normpath(os.path.join(HERE, "..", "resources", "fixtures"))
TRANSFORMERS_VERSION = "4.57.1"
VOCAB = 96
HIDDEN = 32
LAYERS = 2
PAD_ID = 0


# --------------------------------------------------------------------------------------------
# safetensors: values are rounded to the stored dtype first, and the reference uses the rounded
# values, so the Java side and the reference see exactly the same weights.

def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns, round to nearest, ties to even (finite inputs)."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    lsb = (bits >> np.uint64(16)) & np.uint64(1)
    rounded = (bits + np.uint64(0x7FFF) + lsb) >> np.uint64(16)
    return rounded.astype(np.uint16)


def from_bf16_bits(u):
    return (u.astype(np.uint32) << np.uint32(16)).view(np.float32)


def stored(a, dtype):
    """(raw little-endian bytes, the float64 values those bytes hold)."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes(), a.astype(np.float64)
    if dtype == "F16":
        h = a.astype("<f2")  # numpy rounds to nearest even
        assert np.all(np.isfinite(h)), "value out of float16 range"
        return h.tobytes(), h.astype(np.float64)
    if dtype == "BF16":
        u = to_bf16_bits(a)
        return u.astype("<u2").tobytes(), from_bf16_bits(u).astype(np.float64)
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: name -> (float32 array, dtype). Returns name -> float64 stored values.

    Layout as the Rust safetensors writer produces it: data sorted by name (all dtypes here have
    equal alignment needs), header with __metadata__ first, then tensors in data order, padded with
    spaces to a multiple of 8 bytes.
    """
    header = {"__metadata__": {"format": "pt"}}
    blobs, values, off = [], {}, 0
    for name in sorted(tensors):
        arr, dtype = tensors[name]
        raw, val = stored(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(np.shape(arr)), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        values[name] = val
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return values


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        assert n % 8 == 0
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        raw = data[s:e]
        if info["dtype"] == "BF16":
            a = from_bf16_bits(np.frombuffer(raw, dtype="<u2"))
        else:
            a = np.frombuffer(raw, dtype={"F32": "<f4", "F16": "<f2"}[info["dtype"]])
        out[name] = a.astype(np.float64).reshape(info["shape"])
    return header, out


# --------------------------------------------------------------------------------------------
# Reference forward passes, one unpadded row at a time, float64.

def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)  # biased variance, as torch.nn.LayerNorm
    return (x - mu) / torch.sqrt(var + eps) * w + b


def silu(x):
    return x * torch.sigmoid(x)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def rope_inv_freq(cfg, head_dim):
    """transformers' ROPE_INIT_FUNCTIONS for rope_type default, linear and llama3."""
    base = float(cfg["rope_theta"])
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return inv / float(rs["factor"])
    if kind == "llama3":
        factor = float(rs["factor"])
        low, high = float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
        old_len = float(rs["original_max_position_embeddings"])
        low_wavelen, high_wavelen = old_len / low, old_len / high
        out = torch.empty_like(inv)
        for i, f in enumerate(inv.tolist()):
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:  # high frequency: unchanged
                out[i] = f
            elif wavelen > low_wavelen:  # low frequency: divided by factor
                out[i] = f / factor
            else:  # in between: interpolate smoothly
                smooth = (old_len / wavelen - low) / (high - low)
                out[i] = (1 - smooth) * f / factor + smooth * f
        return out
    raise ValueError("rope type " + str(kind))


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def attention(q, k, v, scale, window):
    """q [H, n, D], k/v [H, n, D] (already expanded to H heads). Causal, optional sliding window:
    query i sees key j iff j <= i and i - j < window (transformers' sliding_window_overlay)."""
    n = q.shape[1]
    scores = (q @ k.transpose(-1, -2)) * scale
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (i - j < window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def llama_like_row(cfg, w, ids):
    """LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM on one unpadded row."""
    t = lambda name: torch.from_numpy(w[name])
    has = lambda name: name in w
    E = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or E // H
    eps = cfg["rms_norm_eps"]
    window = None
    if cfg["model_type"] == "mistral":
        window = cfg.get("sliding_window")
    elif cfg["model_type"] == "qwen2" and cfg.get("use_sliding_window"):
        raise NotImplementedError("qwen2 sliding window layers are not used by these fixtures")
    n = len(ids)
    pos = torch.arange(n, dtype=torch.float64)
    freqs = pos[:, None] * rope_inv_freq(cfg, D)[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # attention_scaling is 1 for default, linear and llama3

    def lin(x, name):
        y = x @ t(name + ".weight").T
        if has(name + ".bias"):
            y = y + t(name + ".bias")
        return y

    x = t("model.embed_tokens.weight")[torch.tensor(ids)]
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        h = rms_norm(x, t(p + "input_layernorm.weight"), eps)
        q = lin(h, p + "self_attn.q_proj").view(n, H, D).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj").view(n, KV, D).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj").view(n, KV, D).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=0)  # repeat_kv: KV head g serves query heads g*rep..
        v = v.repeat_interleave(H // KV, dim=0)
        a = attention(q, k, v, D ** -0.5, window).transpose(0, 1).reshape(n, H * D)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms_norm(x, t(p + "post_attention_layernorm.weight"), eps)
        m = lin(silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        x = x + m
    x = rms_norm(x, t("model.norm.weight"), eps)
    head = t("model.embed_tokens.weight") if cfg["tie_word_embeddings"] else t("lm_head.weight")
    return x @ head.T


def gpt2_row(cfg, w, ids, prefix):
    t = lambda name: torch.from_numpy(w[prefix + name])
    E, H = cfg["n_embd"], cfg["n_head"]
    D = E // H
    eps = cfg["layer_norm_epsilon"]
    n = len(ids)
    assert n <= cfg["n_positions"]
    x = t("wte.weight")[torch.tensor(ids)] + t("wpe.weight")[torch.arange(n)]
    conv1d = lambda y, name: y @ t(name + ".weight") + t(name + ".bias")  # weight is [in, out]
    for layer in range(cfg["n_layer"]):
        p = "h.%d." % layer
        h = layer_norm(x, t(p + "ln_1.weight"), t(p + "ln_1.bias"), eps)
        qkv = conv1d(h, p + "attn.c_attn")
        q, k, v = (qkv[:, i * E:(i + 1) * E].view(n, H, D).transpose(0, 1) for i in range(3))
        a = attention(q, k, v, 1.0 / math.sqrt(D), None).transpose(0, 1).reshape(n, E)
        x = x + conv1d(a, p + "attn.c_proj")
        h = layer_norm(x, t(p + "ln_2.weight"), t(p + "ln_2.bias"), eps)
        x = x + conv1d(gelu_new(conv1d(h, p + "mlp.c_fc")), p + "mlp.c_proj")
    x = layer_norm(x, t("ln_f.weight"), t("ln_f.bias"), eps)
    return x @ t("wte.weight").T  # GPT2LMHeadModel's head is always tied to wte


# --------------------------------------------------------------------------------------------
# Fixture definitions.

class Rand:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, shape, std):
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def norm_weight(self, n):
        return (1.0 + 0.1 * self.rng.standard_normal(n)).astype(np.float32)


def llama_config(model_type, heads, kv_heads, intermediate, rope_theta, tied, dtype, head_dim=None,
                 rope_scaling=None, eps=1e-5, extra=None):
    arch = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[model_type]
    cfg = {
        "architectures": [arch],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "max_position_embeddings": 64,
        "model_type": model_type,
        "num_attention_heads": heads,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": kv_heads,
        "rms_norm_eps": eps,
        "rope_scaling": rope_scaling,
        "rope_theta": rope_theta,
        "tie_word_embeddings": tied,
        "torch_dtype": dtype,
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    if head_dim is not None:
        cfg["head_dim"] = head_dim
    if model_type == "llama":
        cfg.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    cfg.update(extra or {})
    return dict(sorted(cfg.items()))


def llama_weights(cfg, r, qkv_bias=False):
    E, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or E // H
    w = {"model.embed_tokens.weight": r.normal((V, E), 0.3), "model.norm.weight": r.norm_weight(E)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = r.normal((V, E), 0.2)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = r.norm_weight(E)
        w[p + "post_attention_layernorm.weight"] = r.norm_weight(E)
        w[p + "self_attn.q_proj.weight"] = r.normal((H * D, E), 0.2)
        w[p + "self_attn.k_proj.weight"] = r.normal((KV * D, E), 0.2)
        w[p + "self_attn.v_proj.weight"] = r.normal((KV * D, E), 0.2)
        w[p + "self_attn.o_proj.weight"] = r.normal((E, H * D), 0.2)
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = r.normal((H * D,), 0.2)
            w[p + "self_attn.k_proj.bias"] = r.normal((KV * D,), 0.2)
            w[p + "self_attn.v_proj.bias"] = r.normal((KV * D,), 0.2)
        w[p + "mlp.gate_proj.weight"] = r.normal((I, E), 0.2)
        w[p + "mlp.up_proj.weight"] = r.normal((I, E), 0.2)
        w[p + "mlp.down_proj.weight"] = r.normal((E, I), 0.2)
    return w


def gpt2_config(extra=None):
    cfg = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 0,
        "embd_pdrop": 0.1,
        "eos_token_id": 0,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_embd": HIDDEN,
        "n_head": 4,
        "n_inner": None,
        "n_layer": LAYERS,
        "n_positions": 16,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    cfg.update(extra or {})
    return dict(sorted(cfg.items()))


def gpt2_weights(cfg, r, prefix, old_buffers):
    E, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    inner = cfg["n_inner"] or 4 * E
    w = {"wte.weight": r.normal((V, E), 0.3), "wpe.weight": r.normal((P, E), 0.1),
         "ln_f.weight": r.norm_weight(E), "ln_f.bias": r.normal((E,), 0.1)}
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        w[p + "ln_1.weight"] = r.norm_weight(E)
        w[p + "ln_1.bias"] = r.normal((E,), 0.1)
        w[p + "attn.c_attn.weight"] = r.normal((E, 3 * E), 0.2)
        w[p + "attn.c_attn.bias"] = r.normal((3 * E,), 0.2)
        w[p + "attn.c_proj.weight"] = r.normal((E, E), 0.2)
        w[p + "attn.c_proj.bias"] = r.normal((E,), 0.1)
        w[p + "ln_2.weight"] = r.norm_weight(E)
        w[p + "ln_2.bias"] = r.normal((E,), 0.1)
        w[p + "mlp.c_fc.weight"] = r.normal((E, inner), 0.2)
        w[p + "mlp.c_fc.bias"] = r.normal((inner,), 0.1)
        w[p + "mlp.c_proj.weight"] = r.normal((inner, E), 0.1)
        w[p + "mlp.c_proj.bias"] = r.normal((E,), 0.1)
        if old_buffers:  # the causal-mask buffers old GPT-2 checkpoints carry; not parameters
            w[p + "attn.bias"] = np.tril(np.ones((P, P), np.float32)).reshape(1, 1, P, P)
            w[p + "attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
    return {prefix + k: v for k, v in w.items()}


def batch(r, lengths):
    """Random token ids in 1..VOCAB-1 (0 is the pad id), right-padded to the longest row."""
    T = max(lengths)
    ids = []
    for n in lengths:
        row = [int(v) for v in r.rng.integers(1, VOCAB, size=n)]
        ids.append(row + [PAD_ID] * (T - n))
    return ids


FIXTURES = []


def fixture(fn):
    FIXTURES.append(fn)
    return fn


@fixture
def llama():
    r = Rand(101)
    cfg = llama_config("llama", 4, 2, 48, 10000.0, False, "float32")
    return "llama", cfg, llama_weights(cfg, r), "F32", batch_spec(r, [12, 7, 10], [4, 3, 1])


@fixture
def llama_bf16():
    r = Rand(202)
    cfg = llama_config("llama", 4, 2, 48, 10000.0, False, "bfloat16", head_dim=8)
    return "llama-bf16", cfg, llama_weights(cfg, r), "BF16", batch_spec(r, [9, 12, 5], [2, 6, 4])


@fixture
def llama_f16():
    r = Rand(303)
    cfg = llama_config("llama", 4, 2, 48, 10000.0, False, "float16", head_dim=8)
    return "llama-f16", cfg, llama_weights(cfg, r), "F16", batch_spec(r, [6, 11, 12], [3, 5, 7])


@fixture
def llama3_rope():
    r = Rand(404)
    rs = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
          "original_max_position_embeddings": 8, "rope_type": "llama3"}
    cfg = llama_config("llama", 2, 1, 48, 500000.0, True, "float32", head_dim=16, rope_scaling=rs)
    return "llama3-rope", cfg, llama_weights(cfg, r), "F32", batch_spec(r, [12, 10, 8], [5, 2, 3])


@fixture
def mistral():
    r = Rand(505)
    cfg = llama_config("mistral", 4, 1, 48, 1000000.0, False, "float32", head_dim=16,
                       extra={"sliding_window": 4})
    return "mistral", cfg, llama_weights(cfg, r), "F32", batch_spec(r, [11, 12, 6], [3, 8, 2])


@fixture
def qwen2():
    r = Rand(606)
    # use_sliding_window false: transformers sets sliding_window to None and every layer is full
    # attention, whatever sliding_window and max_window_layers say. The small values are a trap.
    cfg = llama_config("qwen2", 4, 2, 48, 1000000.0, True, "float32", eps=1e-6,
                       rope_scaling={"factor": 2.0, "type": "linear"},
                       extra={"bos_token_id": 1, "eos_token_id": 2, "max_window_layers": 1,
                              "sliding_window": 4, "use_sliding_window": False})
    return "qwen2", cfg, llama_weights(cfg, r, qkv_bias=True), "F32", batch_spec(r, [8, 12, 10], [4, 4, 9])


@fixture
def gpt2():
    r = Rand(707)
    cfg = gpt2_config()  # tie_word_embeddings absent: GPT2Config's default (true) is not written
    return "gpt2", cfg, gpt2_weights(cfg, r, "", False), "F32", batch_spec(r, [12, 5, 9], [6, 1, 4])


@fixture
def gpt2_prefixed():
    r = Rand(808)
    cfg = gpt2_config({"n_ctx": 16, "tie_word_embeddings": True})
    return ("gpt2-prefixed", cfg, gpt2_weights(cfg, r, "transformer.", True), "F32",
            batch_spec(r, [7, 12, 10], [2, 10, 5]))


def batch_spec(r, lengths, prompt_lengths):
    assert len(lengths) == 3 and max(lengths) <= 12
    assert all(1 <= p < n for p, n in zip(prompt_lengths, lengths))
    return batch(r, lengths), lengths, prompt_lengths


# --------------------------------------------------------------------------------------------

def reference(cfg, w, ids, lengths, prompt_lengths):
    T = len(ids[0])
    logits = torch.zeros(len(ids), T, cfg["vocab_size"])
    logps, tokens = [], []
    for b, (row, n, p) in enumerate(zip(ids, lengths, prompt_lengths)):
        real = row[:n]
        if cfg["model_type"] == "gpt2":
            prefix = "transformer." if "transformer.wte.weight" in w else ""
            out = gpt2_row(cfg, w, real, prefix)
        else:
            out = llama_like_row(cfg, w, real)
        logits[b, :n] = out
        lp = torch.log_softmax(out, dim=-1)
        logps.append(float(sum(lp[t - 1, real[t]] for t in range(p, n))))
        tokens.append(n - p)
    return logits, logps, tokens


def fmt(v, digits):
    s = "%.*g" % (digits, v)
    return "0" if s in ("0", "-0") else s


def expected_json(ids, lengths, prompt_lengths, logits, logps, tokens):
    rows = []
    for b in range(logits.shape[0]):
        pos = ["    [" + ",".join(fmt(v, 10) for v in logits[b, t].tolist()) + "]"
               for t in range(logits.shape[1])]
        rows.append("   [\n" + ",\n".join(pos) + "\n   ]")
    return ("{\n"
            ' "input_ids": ' + json.dumps(ids) + ",\n"
            ' "lengths": ' + json.dumps(lengths) + ",\n"
            ' "prompt_lengths": ' + json.dumps(prompt_lengths) + ",\n"
            ' "logps": [' + ", ".join(repr(float(v)) for v in logps) + "],\n"
            ' "tokens": ' + json.dumps(tokens) + ",\n"
            ' "logits": [\n' + ",\n".join(rows) + "\n ]\n}\n")


def build(fn, out_root):
    name, cfg, weights, dtype, (ids, lengths, prompt_lengths) = fn()
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")
    # GPT-2's old mask buffers (h.N.attn.bias, h.N.attn.masked_bias) stay F32 whatever the dtype
    tensors = {k: (v, "F32" if re.search(r"\.attn\.(bias|masked_bias)$", k) else dtype) for k, v in weights.items()}
    values = write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    header, back = read_safetensors(os.path.join(d, "model.safetensors"))
    assert set(back) == set(values)
    for k in values:
        assert np.array_equal(back[k], values[k]), k
    logits, logps, tokens = reference(cfg, values, ids, lengths, prompt_lengths)
    with open(os.path.join(d, "expected.json"), "w") as f:
        f.write(expected_json(ids, lengths, prompt_lengths, logits, logps, tokens))
    return name, cfg, values, ids, lengths, prompt_lengths, logits, logps


# Second, differently written implementations (torch.nn building blocks, per-head loops, complex
# rotations) used only to check the reference above for indexing mistakes.

def gpt2_row_nn(cfg, w, ids, prefix):
    import torch.nn.functional as F
    t = lambda name: torch.from_numpy(w[prefix + name])
    E, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg["layer_norm_epsilon"]
    n = len(ids)
    x = F.embedding(torch.tensor(ids), t("wte.weight")) + t("wpe.weight")[:n]
    mask = torch.full((n, n), float("-inf")).triu(1)
    for layer in range(cfg["n_layer"]):
        p = "h.%d." % layer
        mha = torch.nn.MultiheadAttention(E, H, bias=True, dtype=torch.float64)
        with torch.no_grad():
            mha.in_proj_weight.copy_(t(p + "attn.c_attn.weight").T)
            mha.in_proj_bias.copy_(t(p + "attn.c_attn.bias"))
            mha.out_proj.weight.copy_(t(p + "attn.c_proj.weight").T)
            mha.out_proj.bias.copy_(t(p + "attn.c_proj.bias"))
            h = F.layer_norm(x, (E,), t(p + "ln_1.weight"), t(p + "ln_1.bias"), eps)
            a, _ = mha(h[:, None], h[:, None], h[:, None], attn_mask=mask, need_weights=False)
        x = x + a[:, 0]
        h = F.layer_norm(x, (E,), t(p + "ln_2.weight"), t(p + "ln_2.bias"), eps)
        f = F.gelu(F.linear(h, t(p + "mlp.c_fc.weight").T, t(p + "mlp.c_fc.bias")), approximate="tanh")
        x = x + F.linear(f, t(p + "mlp.c_proj.weight").T, t(p + "mlp.c_proj.bias"))
    x = F.layer_norm(x, (E,), t("ln_f.weight"), t("ln_f.bias"), eps)
    return F.linear(x, t("wte.weight"))


def llama_like_row_loops(cfg, w, ids):
    import torch.nn.functional as F
    t = lambda name: torch.from_numpy(w[name])
    get_b = lambda name: torch.from_numpy(w[name]) if name in w else None
    E, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or E // H
    eps = cfg["rms_norm_eps"]
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None
    inv = rope_inv_freq(cfg, D)
    n = len(ids)

    def norm(x, wt):
        return wt * x / torch.sqrt((x * x).sum(-1, keepdim=True) / x.shape[-1] + eps)

    def rope(v, pos):  # v [D]: pairs (i, i + D/2) rotate by pos * inv[i]
        z = torch.complex(v[:D // 2], v[D // 2:]) * torch.exp(1j * pos * inv)
        return torch.cat((z.real, z.imag))

    x = torch.stack([t("model.embed_tokens.weight")[i] for i in ids])
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d.self_attn." % layer
        h = norm(x, t("model.layers.%d.input_layernorm.weight" % layer))
        q = F.linear(h, t(p + "q_proj.weight"), get_b(p + "q_proj.bias"))
        k = F.linear(h, t(p + "k_proj.weight"), get_b(p + "k_proj.bias"))
        v = F.linear(h, t(p + "v_proj.weight"), get_b(p + "v_proj.bias"))
        out = torch.zeros(n, H * D)
        for head in range(H):
            g = head // (H // KV)
            for i in range(n):
                qi = rope(q[i, head * D:(head + 1) * D], i)
                keys = [j for j in range(i + 1) if window is None or i - j < window]
                sc = torch.stack([qi @ rope(k[j, g * D:(g + 1) * D], j) for j in keys]) / math.sqrt(D)
                pr = torch.softmax(sc, 0)
                out[i, head * D:(head + 1) * D] = sum(pr[m] * v[j, g * D:(g + 1) * D] for m, j in enumerate(keys))
        x = x + F.linear(out, t(p + "o_proj.weight"), get_b(p + "o_proj.bias"))
        m = "model.layers.%d.mlp." % layer
        h = norm(x, t("model.layers.%d.post_attention_layernorm.weight" % layer))
        x = x + F.linear(F.silu(F.linear(h, t(m + "gate_proj.weight"))) * F.linear(h, t(m + "up_proj.weight")),
                         t(m + "down_proj.weight"))
    x = norm(x, t("model.norm.weight"))
    return F.linear(x, t("lm_head.weight") if "lm_head.weight" in w else t("model.embed_tokens.weight"))


def self_checks(results):
    """Checks that each fixture exercises what it is meant to, and that the JSON reads back."""
    by = {r[0]: r for r in results}
    for name, cfg, values, ids, lengths, pls, logits, logps in results:
        d = os.path.join(OUT_ROOT, name)
        e = json.load(open(os.path.join(d, "expected.json")))
        assert e["input_ids"] == ids and e["lengths"] == lengths and e["prompt_lengths"] == pls
        L = np.array(e["logits"])
        assert L.shape == (3, max(lengths), VOCAB), L.shape
        assert np.allclose(L, logits.numpy(), rtol=1e-9, atol=1e-9)
        # recompute logps from the rounded JSON logits: must agree to well within 1e-6
        for b in range(3):
            lp = torch.log_softmax(torch.tensor(L[b]), -1)
            s = sum(float(lp[t - 1, ids[b][t]]) for t in range(pls[b], lengths[b]))
            assert abs(s - e["logps"][b]) < 1e-6, (name, s, e["logps"][b])
        assert all(ids[b][t] == PAD_ID for b in range(3) for t in range(lengths[b], max(lengths)))
        assert np.std(L[0, :lengths[0]]) > 0.5, (name, np.std(L[0, :lengths[0]]))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        assert size < 300_000, (name, size)
        print("%-14s %6d bytes  logit std %.3f  logps %s" % (name, size, np.std(L[0, :lengths[0]]),
                                                            ["%.4f" % v for v in e["logps"]]))
    # the reference agrees with the second implementations on every real row
    for name, cfg, values, ids, lengths, pls, logits, logps in results:
        for b in range(3):
            row = ids[b][:lengths[b]]
            if cfg["model_type"] == "gpt2":
                other = gpt2_row_nn(cfg, values, row, "transformer." if name == "gpt2-prefixed" else "")
            else:
                other = llama_like_row_loops(cfg, values, row)
            err = (other - logits[b, :lengths[b]]).abs().max().item()
            assert err < 1e-10, (name, b, err)
    # llama3: the scaling must change frequencies at this head_dim
    cfg = by["llama3-rope"][1]
    plain = dict(cfg, rope_scaling=None)
    changed = (rope_inv_freq(cfg, 16) != rope_inv_freq(plain, 16)).sum().item()
    assert changed >= 2, changed
    # mistral: the window must matter, i.e. differ from full attention for rows longer than 4
    name, cfg, values, ids, lengths, pls, logits, _ = by["mistral"]
    full = llama_like_row(dict(cfg, sliding_window=None), values, ids[0][:lengths[0]])
    diff = (full - logits[0, :lengths[0]]).abs().max(-1).values
    assert diff[:4].max() < 1e-12 and diff[4:].min() > 1e-3, diff
    # qwen2: linear scaling and the q/k/v biases matter
    name, cfg, values, ids, lengths, pls, logits, _ = by["qwen2"]
    assert "model.layers.0.self_attn.o_proj.bias" not in values and "lm_head.weight" not in values
    alt = llama_like_row(dict(cfg, rope_scaling=None), values, ids[0][:lengths[0]])
    assert (alt - logits[0, :lengths[0]]).abs().max() > 1e-3
    # tied heads carry no lm_head.weight
    assert "lm_head.weight" not in by["llama3-rope"][2] and "lm_head.weight" in by["llama"][2]
    # stored dtypes round: bf16 values have 8 significant bits, f16 values 11
    v = by["llama-bf16"][2]["model.layers.0.self_attn.q_proj.weight"].astype(np.float32)
    assert np.all(v.view(np.uint32) & 0xFFFF == 0)
    v = by["llama-f16"][2]["model.layers.0.self_attn.q_proj.weight"]
    assert np.array_equal(v, v.astype(np.float16).astype(np.float64))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    assert to_bf16_bits(np.array([1.0 + 2 ** -8], np.float32))[0] == 0x3F80  # tie -> even (down)
    assert to_bf16_bits(np.array([1.0 + 3 * 2 ** -8], np.float32))[0] == 0x3F82  # tie -> even (up)
    assert to_bf16_bits(np.array([1.0 + 2 ** -8 + 2 ** -20], np.float32))[0] == 0x3F81  # above tie
    results = [build(fn, OUT_ROOT) for fn in FIXTURES]
    self_checks(results)
    print("wrote", len(results), "fixtures under", OUT_ROOT)


if __name__ == "__main__":
    sys.exit(main())
