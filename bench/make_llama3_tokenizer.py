#!/usr/bin/env python3
"""Builds a Hugging Face tokenizer.json for Llama 3 from Meta's tiktoken file.

usage: make_llama3_tokenizer.py TOKENIZER_MODEL OUT_DIR

TOKENIZER_MODEL is llama_models/llama3/tokenizer.model from Meta's
`llama-models` PyPI wheel (0.3.0: 2,183,982 bytes, sha256
82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55): the
Llama 3 / 3.1 / 3.2 BPE ranks, one "base64(token) rank" per line.

The conversion is the one transformers' TikTokenConverter does
(convert_slow_tokenizer.py, transformers 5.24), written out here so that only
the `tokenizers` library is needed: the vocabulary is each token's bytes
through GPT-2's bytes_to_unicode; the merges are, for each token, every split
into two tokens of the vocabulary, ordered by the token's rank and then by the
ranks of the two halves; BPE with ignore_merges=True; pre-tokenizer
Sequence[Split(Llama-3 regex, Isolated), ByteLevel(add_prefix_space=False,
use_regex=False)]; ByteLevel decoder. On top of that, as in Meta's
tokenizer.json on the Hub: the 256 special tokens of llama_models'
llama3/tokenizer.py (ids 128000..128255) and a post-processor
Sequence[ByteLevel(trim_offsets=False), TemplateProcessing adding
<|begin_of_text|>]. Writes OUT_DIR/tokenizer.json and prints its sha256.
"""
import base64
import hashlib
import os
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
           r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
           "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
           "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
           "<|python_tag|>", "<|image|>"]
SPECIAL += [f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(SPECIAL))]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build(model_path):
    ranks = {}
    with open(model_path, "rb") as f:
        for line in f:
            if line.strip():
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
    enc = bytes_to_unicode()
    s = lambda b: "".join(enc[c] for c in b)
    vocab, merges = {}, []
    for tok, rank in ranks.items():
        vocab[s(tok)] = rank
        if len(tok) == 1:
            continue
        local = [(tok[:i], tok[i:], rank) for i in range(1, len(tok))
                 if tok[:i] in ranks and tok[i:] in ranks]
        local.sort(key=lambda x: (ranks[x[0]], ranks[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2])
    merges = [(s(a), s(b)) for a, b, _ in merges]
    tk = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIAL])
    bos = len(ranks)
    tk.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)])])
    assert tk.token_to_id("<|begin_of_text|>") == 128000, tk.token_to_id("<|begin_of_text|>")
    return tk


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tk = build(sys.argv[1])
    os.makedirs(sys.argv[2], exist_ok=True)
    out = os.path.join(sys.argv[2], "tokenizer.json")
    data = tk.to_str(pretty=True).encode()
    with open(out, "wb") as f:
        f.write(data)
    print(hashlib.sha256(data).hexdigest(), out)


if __name__ == "__main__":
    main()
