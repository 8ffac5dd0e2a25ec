#!/usr/bin/env python3
"""Independent PyTorch re-implementation of DeFT phase 1 on the mini protocol, to cross-check the .NET port.

It shares no code with Deft: it reads the pre-trained tiny CLIP (open_clip layout safetensors written by
`./deft pretrain`), the Fashion-MNIST idx files, the prompt token ids and the noisy-label CSVs, and trains DeFT
(dual prompts + VPT-deep, or frozen features with --peft none) with the semantics of issue #4:
  * logits_pos = s·img·posᵀ, logits_neg = s·img.detach()·negᵀ; p_yes/p_no = softmax over [pos.detach(), neg] per class;
  * selected = p_yes[i, y_i] > 0.5; warm-up loss CE(pos, y) + NLL(log p_no, comp) + NLL(log p_yes, y);
    later CE over the selected + NLL(log p_no, comp) + NLL(log p_yes, ŷ), ŷ = y where selected else argmax pos;
  * SGD 0.03, momentum 0.9, weight decay 5e-4, cosine per epoch; contexts N(0, 0.02); VPT-deep prompts
    uniform(±√(6/(3·patch²+width))), appended before every block after dropping the previous block's prompts;
  * CIFAR recipe on 28-px images: zero-pad 4, random crop 32, resize to 28 (bicubic, antialiased), flip;
  * the final selection is the last epoch's (augmented views); an extra eval pass gives AUROC and the eval selection.

Usage (GPU or CPU):  python3 deft_mini.py --xref DIR --labels labels-sym-0.4-10000.csv [--peft vpt|none] [--seeds 0,1,2]
DIR holds model/ (open_clip_config.json, open_clip_model.safetensors), data/ (Fashion-MNIST idx .gz), prompts.json.
Prints one JSON line per run.
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file


# ---------------------------------------------------------------- model (OpenAI CLIP layout, QuickGELU)
class Block(torch.nn.Module):
    def __init__(self, sd, prefix, heads):
        super().__init__()
        self.p = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        self.heads = heads

    def forward(self, x, causal=False):
        p = self.p
        b, t, w = x.shape
        h = F.layer_norm(x, (w,), p["ln_1.weight"], p["ln_1.bias"], 1e-5)
        qkv = F.linear(h, p["attn.in_proj_weight"], p["attn.in_proj_bias"])
        q, k, v = qkv.view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + F.linear(a.transpose(1, 2).reshape(b, t, w), p["attn.out_proj.weight"], p["attn.out_proj.bias"])
        h = F.layer_norm(x, (w,), p["ln_2.weight"], p["ln_2.bias"], 1e-5)
        h = F.linear(h, p["mlp.c_fc.weight"], p["mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)
        return x + F.linear(h, p["mlp.c_proj.weight"], p["mlp.c_proj.bias"])


class TinyClip:
    def __init__(self, directory, device):
        cfg = json.load(open(os.path.join(directory, "open_clip_config.json")))["model_cfg"]
        sd = {k: v.to(device).float() for k, v in load_file(os.path.join(directory, "open_clip_model.safetensors")).items()}
        self.sd, self.cfg = sd, cfg
        v, t = cfg["vision_cfg"], cfg["text_cfg"]
        self.patch, self.width = v["patch_size"], v["width"]
        self.vblocks = [Block(sd, f"visual.transformer.resblocks.{i}.", v["heads"]) for i in range(v["layers"])]
        self.tblocks = [Block(sd, f"transformer.resblocks.{i}.", t["heads"]) for i in range(t["layers"])]
        self.scale = sd["logit_scale"].exp().clamp(max=100).item()

    def encode_image(self, images, vpt=None):
        sd = self.sd
        x = F.conv2d(images, sd["visual.conv1.weight"], stride=self.patch)  # no bias
        x = x.flatten(2).transpose(1, 2)
        cls = sd["visual.class_embedding"].expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + sd["visual.positional_embedding"]
        x = F.layer_norm(x, (self.width,), sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"], 1e-5)
        n = x.shape[1]
        for i, blk in enumerate(self.vblocks):
            if vpt is not None:
                x = torch.cat([x[:, :n], vpt[i].expand(x.shape[0], -1, -1)], 1)
            x = blk(x)
        x = F.layer_norm(x[:, 0], (self.width,), sd["visual.ln_post.weight"], sd["visual.ln_post.bias"], 1e-5)
        return x @ sd["visual.proj"]

    def encode_embeddings(self, emb, eot):
        sd = self.sd
        x = emb + sd["positional_embedding"][: emb.shape[1]]
        for blk in self.tblocks:
            x = blk(x, causal=True)
        x = F.layer_norm(x, (x.shape[-1],), sd["ln_final.weight"], sd["ln_final.bias"], 1e-5)
        return x[torch.arange(x.shape[0]), eot] @ sd["text_projection"]

    def embed_tokens(self, ids):
        return self.sd["token_embedding.weight"][ids]


# ---------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def read_labels_csv(path):
    rows = [line.strip().split(",") for line in open(path) if line.strip()][1:]
    idx = np.array([int(r[0]) for r in rows])
    given = np.array([int(r[1]) for r in rows])
    true = np.array([int(r[2]) for r in rows])
    return idx, given, true


MEAN, STD = 0.2860, 0.3530


def normalise(u8):  # [B, 28, 28] uint8 on device -> [B, 3, 28, 28]
    x = u8.float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
    return (x - MEAN) / STD


def augment(u8, gen):
    """Zero-pad 4, random crop 32 (row then column offset), resize 32 -> 28 bicubic (antialiased, like PIL), flip."""
    b = u8.shape[0]
    x = F.pad(u8.float().div(255), (4, 4, 4, 4))  # [B, 36, 36]
    top = torch.randint(0, 5, (b,), generator=gen, device=u8.device)
    left = torch.randint(0, 5, (b,), generator=gen, device=u8.device)
    ar = torch.arange(32, device=u8.device)
    rows = (top[:, None] + ar)[:, :, None].expand(b, 32, 32)
    cols = (left[:, None] + ar)[:, None, :].expand(b, 32, 32)
    crop = x[torch.arange(b, device=u8.device)[:, None, None], rows, cols]
    crop = F.interpolate(crop.unsqueeze(1), size=(28, 28), mode="bicubic", align_corners=False, antialias=True)
    crop = (crop.clamp(0, 1) * 255).round() / 255  # PIL keeps 8-bit pixels between steps
    flip = torch.rand(b, generator=gen, device=u8.device) < 0.5
    crop = torch.where(flip[:, None, None, None], crop.flip(-1), crop)
    return ((crop - MEAN) / STD).expand(-1, 3, -1, -1)


def auroc(scores, positives):
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks of ties
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j + 2) / 2
        i = j + 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def prf(selected, clean):
    tp = int((selected & clean).sum())
    p = tp / max(1, int(selected.sum()))
    r = tp / max(1, int(clean.sum()))
    return p, r, 0 if p + r == 0 else 2 * p * r / (p + r)


# ---------------------------------------------------------------- DeFT
def run(args, model, images_u8, labels_path, peft, seed, device):
    idx, given, true = read_labels_csv(labels_path)
    n, nc = len(idx), 10
    clean = given == true
    imgs = images_u8[torch.as_tensor(idx, device=device)]
    y_all = torch.as_tensor(given, device=device)
    prompts = json.load(open(os.path.join(args.xref, "prompts.json")))
    n_ctx, ctx_len = prompts["n_ctx"], prompts["context_length"]
    ids = torch.zeros(nc, ctx_len, dtype=torch.long, device=device)
    eot = torch.zeros(nc, dtype=torch.long, device=device)
    for c, seq in enumerate(prompts["token_ids"]):
        ids[c, : len(seq)] = torch.tensor(seq)
        eot[c] = len(seq) - 1
    emb = model.embed_tokens(ids)
    prefix, suffix = emb[:, :1], emb[:, 1 + n_ctx:]
    torch.manual_seed(seed)
    width = emb.shape[-1]
    pos_ctx = torch.nn.Parameter(torch.randn(n_ctx, width, device=device) * 0.02)
    neg_ctx = torch.nn.Parameter(torch.randn(n_ctx, width, device=device) * 0.02)
    params = [pos_ctx, neg_ctx]
    vpt = None
    if peft == "vpt":
        bound = math.sqrt(6.0 / (3 * model.patch ** 2 + model.width))
        vpt = torch.nn.Parameter(torch.empty(len(model.vblocks), args.vpt_len, model.width, device=device).uniform_(-bound, bound))
        params.append(vpt)
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    gen = torch.Generator(device=device).manual_seed(seed)

    cached = None
    if peft == "none":
        with torch.no_grad():
            cached = torch.cat([model.encode_image(normalise(imgs[i:i + 1024])) for i in range(0, n, 1024)])

    def text_features(ctx):
        x = torch.cat([prefix, ctx.expand(nc, -1, -1), suffix], 1)
        return F.normalize(model.encode_embeddings(x, eot), dim=-1)

    def forward(batch_idx, train):
        if cached is not None:
            img = cached[batch_idx]
        else:
            u8 = imgs[batch_idx]
            img = model.encode_image(augment(u8, gen) if train else normalise(u8), vpt)
        img = F.normalize(img, dim=-1)
        lp = model.scale * img @ text_features(pos_ctx).t()
        ln = model.scale * img.detach() @ text_features(neg_ctx).t()
        probs = torch.stack([lp.detach(), ln], -1).softmax(-1)  # [B, C, 2]
        return lp, probs[..., 0], probs[..., 1]

    history = []
    last_sel = np.zeros(n, dtype=bool)
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(n, generator=gen, device=device)
        sel_epoch = np.zeros(n, dtype=bool)
        for s in range(0, n, args.batch):
            b = perm[s: s + args.batch]
            y = y_all[b]
            comp = (y + torch.randint(1, nc, y.shape, generator=gen, device=device)) % nc
            lp, p_yes, p_no = forward(b, True)
            p_clean = p_yes.gather(1, y[:, None]).squeeze(1)
            sel = p_clean > 0.5
            log_yes = p_yes.clamp(1e-5, 1).log()
            log_no = p_no.clamp(1e-5, 1).log()
            loss_neg = F.nll_loss(log_no, comp)
            if epoch <= args.warmup:
                loss = F.cross_entropy(lp, y) + loss_neg + F.nll_loss(log_yes, y)
            else:
                target = torch.where(sel, y, lp.argmax(1))
                loss_cls = F.cross_entropy(lp[sel], y[sel]) if sel.any() else lp.sum() * 0
                loss = loss_cls + loss_neg + F.nll_loss(log_yes, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sel_epoch[b.cpu().numpy()] = sel.cpu().numpy()
        sched.step()
        p, r, f = prf(sel_epoch, clean)
        history.append({"epoch": epoch, "selected": float(sel_epoch.mean()), "precision": p, "recall": r, "f1": f})
        last_sel = sel_epoch
    with torch.no_grad():
        q = torch.cat([forward(torch.arange(i, min(n, i + 1024), device=device), False)[1]
                       .gather(1, y_all[i:i + 1024, None]).squeeze(1) for i in range(0, n, 1024)]).cpu().numpy()
    p, r, f = prf(last_sel, clean)
    pe, re_, fe = prf(q > 0.5, clean)
    return {"labels": os.path.basename(labels_path), "peft": peft, "seed": seed, "samples": n,
            "true_noise": float(1 - clean.mean()), "estimated_noise": float(1 - last_sel.mean()),
            "precision": p, "recall": r, "f1": f, "auroc_eval": auroc(q, clean),
            "eval_precision": pe, "eval_recall": re_, "eval_f1": fe, "seconds": time.time() - t0, "epochs": history}


def zero_shot(args, model, device):
    prompts = json.load(open(os.path.join(args.xref, "prompts.json")))
    if "zero_shot_token_ids" not in prompts:
        return None
    ids = torch.zeros(10, prompts["context_length"], dtype=torch.long, device=device)
    eot = torch.zeros(10, dtype=torch.long, device=device)
    for c, seq in enumerate(prompts["zero_shot_token_ids"]):
        ids[c, : len(seq)] = torch.tensor(seq)
        eot[c] = len(seq) - 1
    images = torch.as_tensor(read_idx(os.path.join(args.xref, "data", "t10k-images-idx3-ubyte.gz")).copy(), device=device)
    labels = torch.as_tensor(read_idx(os.path.join(args.xref, "data", "t10k-labels-idx1-ubyte.gz")).astype(np.int64), device=device)
    with torch.no_grad():
        text = F.normalize(model.encode_embeddings(model.embed_tokens(ids), eot), dim=-1)
        pred = torch.cat([(F.normalize(model.encode_image(normalise(images[i:i + 2000])), dim=-1) @ text.t()).argmax(1)
                          for i in range(0, len(images), 2000)])
    return float((pred == labels).float().mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xref", required=True)
    ap.add_argument("--labels", required=True, help="comma-separated CSV names inside --xref")
    ap.add_argument("--peft", default="vpt", help="comma-separated: vpt, none")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--vpt-len", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = TinyClip(os.path.join(args.xref, "model"), device)
    results = [{"zero_shot_accuracy": zero_shot(args, model, device), "device": device, "torch": torch.__version__}]
    print(json.dumps(results[0]), flush=True)
    images = torch.as_tensor(read_idx(os.path.join(args.xref, "data", "train-images-idx3-ubyte.gz")).copy(), device=device)
    for labels in args.labels.split(","):
        for peft in args.peft.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                r = run(args, model, images, os.path.join(args.xref, labels), peft, seed, device)
                results.append(r)
                print(json.dumps({k: v for k, v in r.items() if k != "epochs"}), flush=True)
                if args.out:  # after every run: a stopped job keeps what it finished
                    with open(args.out, "w") as f:
                        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
