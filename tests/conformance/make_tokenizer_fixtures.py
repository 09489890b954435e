#!/usr/bin/env python3
"""Reference fixtures for eqat's tokenizer.json pipeline (common/hf_tokenizer).

usage: make_tokenizer_fixtures.py [--out DIR] [--qwen3 TOKENIZER_JSON] [--cases-dir DIR]

Builds small tokenizer.json files with the Hugging Face `tokenizers` library
(the Rust implementation, PyPI wheel), one per pipeline layout below, and for
each writes DIR/<name>/tokenizer.json and DIR/<name>/expected.json:

  {"library": "tokenizers <version>", "description": "...",
   "cases": [{"name": "...", "text_hex": "<the case's bytes as hex>",
              "ids": [...], "ids_special": [...],
              "decoded": "...", "decoded_skip": "..."}]}

with, for text = bytes.fromhex(text_hex).decode("utf-8", errors="replace"):
  ids          = encode(text, add_special_tokens=False).ids
  ids_special  = encode(text, add_special_tokens=True).ids
  decoded      = decode(ids, skip_special_tokens=False)
  decoded_skip = decode(ids_special, skip_special_tokens=True)

Invalid UTF-8: some cases are not valid UTF-8 (a lone 0xff, a truncated
3-byte sequence, an overlong 0xc0 0xaf). The library only takes str, so the
bytes are decoded with errors="replace": each maximal invalid subpart becomes
one U+FFFD (Unicode's "substitution of maximal subparts", the policy of
Rust's String::from_utf8_lossy too): 0xff -> 1, e2 82 -> 1, c0 af -> 2.
eqat replaces invalid sequences with U+FFFD the same way, so feeding eqat the
raw bytes must give these ids.

The vocabularies are trained here (BpeTrainer, single-threaded) on the first
300 KB of data/calib_en.txt (less its literal "<unk>") plus a few multilingual lines (TRAIN_EXTRA), a few
hundred to ~2000 tokens each so that the files stay small; emoji are left out
of the training text so that unknown-character paths (unk, fuse_unk, byte
fallback) are exercised. The output is deterministic: the same library
version writes the same bytes on every run (tests/conformance/tokenizers_test.sh
checks the committed files against a fresh run).

qwen3_cases: expected ids of the real Qwen3 tokenizer (--qwen3, default
tests/data/tokenizers/qwen3/tokenizer.json, else
../shared/tokenizers/qwen3/tokenizer.json beside the checkout) on the same texts; its
tokenizer.json is not copied: expected.json names it with "tokenizer_path"
(relative to the fixture folder, "../qwen3/tokenizer.json") and records its
sha256.

--cases-dir DIR also writes each case's raw bytes to DIR/<name>.txt (what
`eqat tokenize --text` reads).
"""
import argparse
import hashlib
import json
import os
import sys

# One thread, set before the library starts its pool: training is then
# deterministic and so are the files.
os.environ["RAYON_RS_NUM_CPUS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers  # noqa: E402
from tokenizers import pre_tokenizers as pt, processors, trainers  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Line 1522 of data/wikitext2_test.raw (2,048 bytes with its CRLF).
WIKI_LINE = 1522


def wiki_paragraph():
    with open(os.path.join(SRC, "data", "wikitext2_test.raw"), "rb") as f:
        lines = f.read().split(b"\n")
    return lines[WIKI_LINE - 1] + b"\n"


def u(s):
    return s.encode("utf-8")


# (name, bytes). Every fixture is run on all of them.
CASES = [
    ("english", u("Hello world! I don't know, but I'll try. WE'RE sure they've gone; "
                  "she's here, it'd be fine, you're right and I'm done.")),
    ("contractions_case", u("DON'T I'LL We'Ve YOU'D he'S o'clock rock'n'roll")),
    ("whitespace_runs", u("a  b   c\t\td \t e\n\n\nf   \n  g  ")),
    ("leading_trailing_spaces", u("   leading and trailing   ")),
    ("crlf_tabs", u("\tline1\r\nline2\r\n\r\n  \n  end\n")),
    ("single_space", u(" ")),
    ("only_newlines", u("\n\n")),
    ("digits", u("1234567 12 3.14159 2024-12-01 007 1,000,000")),
    ("accents_nfc", u("caf\u00e9 \u00c5ngstr\u00f6m na\u00efve r\u00e9sum\u00e9")),
    ("accents_nfd", u("cafe\u0301 A\u030angstro\u0308m nai\u0308ve")),
    ("cjk_chinese", u("\u6211\u7231\u81ea\u7136\u8bed\u8a00\u5904\u7406\u3002"
                      "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff01")),
    ("cjk_japanese", u("\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002"
                       "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3001"
                       "\uff76\uff80\uff76\uff85\u3002")),
    ("cjk_korean", u("\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4! "
                     "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8.")),
    ("emoji", u("\U0001f44d\U0001f3fd ok \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 "
                "\U0001f1eb\U0001f1f7\U0001f1ef\U0001f1f5 \U0001f3f3\ufe0f\u200d\U0001f308 "
                "\u2764\ufe0f \U0001f600\U0001f600!")),
    ("rtl_arabic", u("\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c "
                     "\u0647\u0630\u0627 \u0646\u0635 \u0639\u0631\u0628\u064a \u0661\u0662\u0663.")),
    ("rtl_hebrew", u("\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd! "
                     "\u05d6\u05d4 \u05d8\u05e7\u05e1\u05d8 \u05d1\u05e2\u05d1\u05e8\u05d9\u05ea.")),
    ("nbsp", u("10\u00a0000 km and 5\u202f%; a\u00a0\u00a0b \u00a0x")),
    ("zero_width", u("zero\u200bwidth\u200cnon\u200djoiner \u200b")),
    ("bom", u("\ufeffBOM at start and in\ufeffside")),
    ("line_separator", u("line\u2028separator\u2029para\u0085nel")),
    ("compatibility", u("\ufb01ne \u2460 \uff46\uff55\uff4c\uff4c \u338f \u00bd \u2122 x\u00b2 \u2026")),
    ("case_mapping", u("\u03a3\u039f\u03a6\u039f\u03a3 \u0130stanbul STRASSE \u1e9e \u01c5")),
    ("code", u("def f(x):\n    return x**2  # comment\n\tif a != b: pass\n")),
    ("long_word", u("a" * 300 + " " + "supercalifragilistic" * 12)),
    ("invalid_lone_ff", b"abc\xffdef"),
    ("invalid_truncated_3byte", b"x\xe2\x82y end\xe2\x82"),
    ("invalid_overlong", b"\xc0\xafslash"),
    ("empty", b""),
    ("special_llama3", u("<|begin_of_text|>Hello<|eot_id|>")),
    ("special_llama3_chat", u("<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>")),
    ("special_llama2", u("<s> hi </s>")),
    ("special_qwen", u("<|im_start|>user\nhi<|im_end|>\n<|endoftext|>")),
    ("added_mix", u("[CLS]Hello<|special|>world [MASK] x<sep>  y hello helloworld WORLD "
                    "world ab cd AB CD <|sp <|special|> Tok  Tok Tok! \u00f1n\u0303")),
    ("wikitext_paragraph", wiki_paragraph()),
]

# Training text besides calib_en.txt: characters of the scripts above (no emoji).
TRAIN_EXTRA = [CASES[i][1].decode("utf-8") for i, (n, _) in enumerate(CASES)
               if n in ("accents_nfc", "cjk_chinese", "cjk_japanese", "cjk_korean",
                        "rtl_arabic", "rtl_hebrew")] * 3


def training_lines():
    with open(os.path.join(SRC, "data", "calib_en.txt"), "rb") as f:
        data = f.read(300_000)
    # calib_en.txt still has some literal "<unk>": dropped, or the trainer
    # learns merges such as ("\u2581", "<unk>") that then apply to unknown characters.
    data = data[:data.rfind(b"\n") + 1].decode("utf-8").replace("<unk>", "")
    return data.splitlines() + TRAIN_EXTRA


def train(vocab_size, pre_tokenizer=None, normalizer=None, byte_level=False, unk=None):
    """Vocab and merges of a BPE trained on training_lines()."""
    tk = Tokenizer(models.BPE(unk_token=unk))
    if normalizer is not None:
        tk.normalizer = normalizer
    if pre_tokenizer is not None:
        tk.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, show_progress=False,
        special_tokens=[unk] if unk else [],
        initial_alphabet=pt.ByteLevel.alphabet() if byte_level else [])
    tk.train_from_iterator(training_lines(), trainer)
    model = json.loads(tk.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


IGNORE_MERGES_WORDS = ["Hello", " pillboxes", " camouflaged", " manoeuvring", " Tetrarchs",
                       " caf\u00e9", "\u6211\u7231", "\U0001f600\U0001f600!"]


def special(content, **kw):
    return AddedToken(content, special=True, normalized=False, **kw)


def byte_level_split(split):
    return pt.Sequence([split, pt.ByteLevel(add_prefix_space=False, use_regex=False)])


# ---------------------------------------------------------------- fixtures --
def llama3_style():
    pre = byte_level_split(pt.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False))
    vocab, merges = train(1500, pre, byte_level=True)
    # Whole words in the vocabulary that no merge builds: with ignore_merges
    # they come out as one token, where merging would split them.
    for word in IGNORE_MERGES_WORDS:
        bl = pt.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(word)[0][0]
        if bl not in vocab:
            vocab[bl] = len(vocab)
    tk = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    tk.pre_tokenizer = pre
    tk.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>"]
    tk.add_special_tokens([special(t) for t in specials])
    bos = tk.token_to_id("<|begin_of_text|>")
    tk.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)])])
    return tk, ("Llama-3 layout: Split(Llama-3 regex, Isolated) + ByteLevel(use_regex=False), "
                "BPE ignore_merges=True, Sequence[ByteLevel, TemplateProcessing BOS], "
                "ByteLevel decoder")


def llama2_converted():
    vocab_t, merges = train(1200, pt.Metaspace(replacement="\u2581", prepend_scheme="first"),
                            unk="<unk>")
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for tok, _ in sorted(vocab_t.items(), key=lambda kv: kv[1]):
        if tok not in vocab:
            vocab[tok] = len(vocab)
    tk = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tk.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                          normalizers.Replace(" ", "\u2581")])
    tk.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                    decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tk.add_special_tokens([special("<unk>"), special("<s>"), special("</s>")])
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", 1)])
    return tk, ("Llama-2 converted layout: Sequence[Prepend(U+2581), Replace(' ', U+2581)], "
                "no pre-tokenizer, BPE byte_fallback + fuse_unk with <0x00>..<0xFF>, "
                "TemplateProcessing <s>, decoder Sequence[Replace, ByteFallback, Fuse, Strip(' ',1,0)]")


def mistral_metaspace():
    """The layout transformers' LlamaConverter writes with legacy=False (Mistral,
    Llama-2 re-converted): Metaspace pre-tokenizer instead of the normalizer."""
    pre = pt.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    vocab_t, merges = train(1200, pre, unk="<unk>")
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for tok, _ in sorted(vocab_t.items(), key=lambda kv: kv[1]):
        if tok not in vocab:
            vocab[tok] = len(vocab)
    tk = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tk.pre_tokenizer = pre
    tk.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                    decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tk.add_special_tokens([special("<unk>"), special("<s>"), special("</s>")])
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", 1)])
    return tk, ("Mistral / LlamaConverter(legacy=False) layout: Metaspace(first, split=False) "
                "pre-tokenizer, BPE byte_fallback + fuse_unk with <0x00>..<0xFF>, "
                "TemplateProcessing <s>, decoder Sequence[Replace, ByteFallback, Fuse, Strip(' ',1,0)]")


def gpt2_style():
    pre = pt.ByteLevel(add_prefix_space=True, use_regex=True)
    vocab, merges = train(1500, pre, byte_level=True)
    tk = Tokenizer(models.BPE(vocab, merges, fuse_unk=False))
    tk.pre_tokenizer = pre
    tk.post_processor = processors.ByteLevel(trim_offsets=True)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([special("<|endoftext|>")])
    return tk, ("GPT-2 layout: ByteLevel(add_prefix_space=True, use_regex=True) pre-tokenizer, "
                "ByteLevel post-processor and decoder")


def metaspace(scheme, split):
    def build():
        pre = pt.Metaspace(replacement="\u2581", prepend_scheme=scheme, split=split)
        vocab, merges = train(1000, pre, unk="<unk>")
        tk = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=False))
        tk.pre_tokenizer = pre
        tk.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme=scheme, split=split)
        tk.add_special_tokens([special("<unk>"), special("<s>"), special("</s>")])
        if scheme == "always":
            tk.post_processor = processors.TemplateProcessing(
                single="$A </s>", pair="$A </s> $B:1 </s>:1",
                special_tokens=[("</s>", tk.token_to_id("</s>"))])
        return tk, (f"Metaspace(prepend_scheme={scheme}, split={split}) pre-tokenizer and decoder, "
                    "BPE with unk (fuse_unk=False)"
                    + (", TemplateProcessing '$A </s>'" if scheme == "always" else
                       ", no post-processor"))
    return build


def norm_nfkc_lower():
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                 normalizers.Strip(left=True, right=True),
                                 normalizers.Replace(Regex(r"\s+"), " ")])
    pre = pt.WhitespaceSplit()
    vocab, merges = train(1000, pre, norm, unk="<unk>")
    tk = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=True))
    tk.normalizer = norm
    tk.pre_tokenizer = pre
    tk.add_special_tokens([special("<unk>"), special("<s>"), special("</s>")])
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
        special_tokens=[("<s>", tk.token_to_id("<s>")), ("</s>", tk.token_to_id("</s>"))])
    return tk, ("normalizer Sequence[NFKC, Lowercase, Strip(both), Replace(Regex \\s+, ' ')], "
                "WhitespaceSplit, BPE with unk and fuse_unk=True, TemplateProcessing <s> $A </s>, "
                "no decoder (decode joins tokens with spaces)")


def norm_nfc():
    norm = normalizers.NFC()
    pre = pt.ByteLevel(add_prefix_space=False, use_regex=True)
    vocab, merges = train(1200, pre, norm, byte_level=True)
    tk = Tokenizer(models.BPE(vocab, merges))
    tk.normalizer = norm
    tk.pre_tokenizer = pre
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([special("<|endoftext|>")])
    return tk, "NFC normalizer, ByteLevel(add_prefix_space=False, use_regex=True), ByteLevel decoder"


def pretok_digits_punct_ws():
    pre = pt.Sequence([pt.Digits(individual_digits=True), pt.Punctuation(), pt.Whitespace()])
    vocab, merges = train(800, pre, unk="<unk>")
    tk = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=False))
    tk.pre_tokenizer = pre
    tk.add_special_tokens([special("<unk>")])
    return tk, ("pre-tokenizer Sequence[Digits(individual_digits=True), Punctuation, Whitespace], "
                "BPE with unk, no decoder")


def pretok_wssplit_digits():
    pre = pt.Sequence([pt.WhitespaceSplit(), pt.Digits(individual_digits=False)])
    vocab, merges = train(800, pre, unk="<unk>")
    tk = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=True))
    tk.pre_tokenizer = pre
    tk.add_special_tokens([special("<unk>")])
    return tk, ("pre-tokenizer Sequence[WhitespaceSplit, Digits(individual_digits=False)], "
                "BPE with unk and fuse_unk=True, no decoder")


def split(pattern, behavior, invert=False):
    def build():
        pre = byte_level_split(pt.Split(pattern, behavior=behavior, invert=invert))
        vocab, merges = train(600, pre, byte_level=True)
        tk = Tokenizer(models.BPE(vocab, merges))
        tk.pre_tokenizer = pre
        tk.decoder = decoders.ByteLevel()
        shown = pattern if isinstance(pattern, str) else json.loads(tk.to_str())[
            "pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        return tk, (f"Split({shown!r}, {behavior}, invert={invert}) + ByteLevel(use_regex=False), "
                    "byte-level BPE, ByteLevel decoder")
    return build


def added_tokens():
    norm = normalizers.Lowercase()
    pre = pt.ByteLevel(add_prefix_space=False, use_regex=True)
    vocab, merges = train(1000, pre, norm, byte_level=True)
    tk = Tokenizer(models.BPE(vocab, merges))
    tk.normalizer = norm
    tk.pre_tokenizer = pre
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([special("[CLS]"), special("[SEP]"), special("<|special|>"),
                           special("[MASK]", lstrip=True), special("<sep>", rstrip=True),
                           special("<|begin_of_text|>"), special("<|eot_id|>")])
    tk.add_tokens([
        AddedToken("hello", single_word=True, normalized=True),
        AddedToken("WORLD", normalized=True),
        AddedToken("ab cd", normalized=False),
        AddedToken("<|sp", normalized=False),
        AddedToken("Tok", lstrip=True, rstrip=True, normalized=False),
        AddedToken("\u00f1", normalized=True),
        AddedToken("<s>", special=True, normalized=True, single_word=True),
    ])
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tk.token_to_id("[CLS]")), ("[SEP]", tk.token_to_id("[SEP]"))])
    return tk, ("added tokens: special [MASK] lstrip, <sep> rstrip, <s> special+normalized+single_word; "
                "non-special hello (single_word, normalized), WORLD (normalized), 'ab cd', '<|sp' "
                "(prefix of <|special|>), Tok (lstrip+rstrip), U+00F1 (normalized); Lowercase normalizer, "
                "byte-level BPE, TemplateProcessing [CLS] $A [SEP]")


FIXTURES = [
    ("llama3_style", llama3_style),
    ("llama2_converted", llama2_converted),
    ("mistral_metaspace", mistral_metaspace),
    ("gpt2_style", gpt2_style),
    ("metaspace_first", metaspace("first", True)),
    ("metaspace_always_nosplit", metaspace("always", False)),
    ("norm_nfkc_lower", norm_nfkc_lower),
    ("norm_nfc", norm_nfc),
    ("pretok_digits_punct_ws", pretok_digits_punct_ws),
    ("pretok_wssplit_digits", pretok_wssplit_digits),
    ("split_removed", split(" ", "removed")),
    ("split_merged_prev", split(Regex(r"[.,;:!?]"), "merged_with_previous")),
    ("split_merged_next", split(Regex(r"\s+"), "merged_with_next")),
    ("split_contiguous", split(Regex(r"\p{N}|-"), "contiguous")),
    ("split_invert", split(Regex(r"\p{L}+|\p{N}+"), "removed", invert=True)),
    ("added_tokens", added_tokens),
]


def cases_for(tk):
    out = []
    for name, raw in CASES:
        text = raw.decode("utf-8", errors="replace")
        ids = tk.encode(text, add_special_tokens=False).ids
        ids_special = tk.encode(text, add_special_tokens=True).ids
        out.append({"name": name, "text_hex": raw.hex(), "ids": ids, "ids_special": ids_special,
                    "decoded": tk.decode(ids, skip_special_tokens=False),
                    "decoded_skip": tk.decode(ids_special, skip_special_tokens=True)})
    return out


def dump(obj):
    """JSON, ASCII only (\\u escapes), one case a line."""
    head = {k: v for k, v in obj.items() if k != "cases"}
    lines = [json.dumps(head, ensure_ascii=True)[:-1] + ', "cases": [']
    lines += [json.dumps(c, ensure_ascii=True) + "," for c in obj["cases"]]
    lines[-1] = lines[-1].rstrip(",")
    return ("\n".join(lines) + "]}\n").encode("ascii")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(SRC, "tests", "data", "tokenizers"))
    ap.add_argument("--qwen3", default=None, help='the Qwen3 tokenizer.json ("": none)')
    ap.add_argument("--cases-dir", default=None)
    args = ap.parse_args()
    lib = f"tokenizers {tokenizers.__version__}"

    for name, build in FIXTURES:
        tk, desc = build()
        data = tk.to_str(pretty=True).encode("utf-8") + b"\n"
        write(os.path.join(args.out, name, "tokenizer.json"), data)
        tk = Tokenizer.from_str(data.decode("utf-8"))  # the cases use the file as written
        write(os.path.join(args.out, name, "expected.json"),
              dump({"library": lib, "description": desc, "cases": cases_for(tk)}))
        print(f"{name}: vocab {tk.get_vocab_size()}, {len(data)} bytes", file=sys.stderr)

    qwen3 = args.qwen3 or None  # --qwen3 "": no qwen3_cases
    if args.qwen3 is None:
        for cand in (os.path.join(SRC, "tests", "data", "tokenizers", "qwen3", "tokenizer.json"),
                     os.path.join(os.path.dirname(SRC), "shared", "tokenizers", "qwen3",
                                  "tokenizer.json")):
            if os.path.exists(cand):
                qwen3 = cand
                break
    if qwen3:
        with open(qwen3, "rb") as f:
            data = f.read()
        tk = Tokenizer.from_str(data.decode("utf-8"))
        write(os.path.join(args.out, "qwen3_cases", "expected.json"),
              dump({"library": lib, "tokenizer_path": "../qwen3/tokenizer.json",
                    "tokenizer_sha256": hashlib.sha256(data).hexdigest(),
                    "description": "the real Qwen3 tokenizer.json (NFC, Split regex + ByteLevel, "
                                   "151k byte-level BPE); not copied here",
                    "cases": cases_for(tk)}))
        print(f"qwen3_cases: {qwen3}", file=sys.stderr)
    else:
        print("qwen3_cases: no Qwen3 tokenizer.json found; not written", file=sys.stderr)

    if args.cases_dir:
        for name, raw in CASES:
            write(os.path.join(args.cases_dir, name + ".txt"), raw)


if __name__ == "__main__":
    main()
