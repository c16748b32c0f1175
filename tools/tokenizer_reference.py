"""Reference tokenization with Hugging Face `tokenizers` (see tools/tokenizer-reference).

Checks that tokenizer.json really is the BERT pipeline segstream reproduces
(BertNormalizer, BertPreTokenizer, WordPiece, [CLS] A [SEP]), turns off the
folder's padding and truncates to sentence_bert_config.json's max_seq_length,
as sentence-transformers does. --single-thread encodes line by line (for
timing against segstream); the default uses encode_batch."""
import argparse
import json
import os
import sys
import time

from tokenizers import Tokenizer


def load(model_dir, max_tokens):
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        spec = json.load(f)
    kinds = (spec["normalizer"]["type"], spec["pre_tokenizer"]["type"], spec["model"]["type"])
    if kinds != ("BertNormalizer", "BertPreTokenizer", "WordPiece"):
        sys.exit(f"tokenizer-reference: {model_dir}/tokenizer.json is {kinds}, not a BERT tokenizer")
    post = spec["post_processor"]
    if post["type"] == "TemplateProcessing":
        single = [next(iter(x.values()))["id"] for x in post["single"]]
        if single != ["[CLS]", "A", "[SEP]"]:
            sys.exit(f"tokenizer-reference: unexpected template {single}")
    elif post["type"] != "BertProcessing":
        sys.exit(f"tokenizer-reference: unexpected post-processor {post['type']}")
    if not max_tokens:
        with open(os.path.join(model_dir, "sentence_bert_config.json"), encoding="utf-8") as f:
            max_tokens = json.load(f)["max_seq_length"]
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--single-thread", action="store_true",
                    help="encode one line at a time and print the time and token count to stderr")
    args = ap.parse_args()
    tok = load(args.model, args.max_tokens)
    data = sys.stdin.buffer.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline that ends the last line starts no new one
    texts = [line.decode("utf-8", errors="replace") for line in lines]
    if args.single_thread:
        start = time.perf_counter()
        encodings = [tok.encode(t) for t in texts]
        seconds = time.perf_counter() - start
        tokens = sum(len(e.ids) for e in encodings)
        print(f"tokenizers {len(texts)} texts, {tokens} tokens, {seconds:.3f} s, "
              f"{tokens / seconds:.0f} tokens/s", file=sys.stderr)
    else:
        encodings = tok.encode_batch(texts)
    out = sys.stdout
    for e in encodings:
        out.write("[" + ",".join(map(str, e.ids)) + "]\n")


if __name__ == "__main__":
    main()
