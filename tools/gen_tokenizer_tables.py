"""Probes the pinned `tokenizers` BertNormalizer / BertPreTokenizer / NFD for
every code point and writes model/unicode_tables.c (see tools/gen-tokenizer-tables).

Per code point it records: dropped by clean_text, mapped to ' ' by clean_text,
CJK (spaced by handle_chinese_chars), punctuation and whitespace for the
pre-tokenizer, nonspacing mark (dropped by strip_accents), the NFD
decomposition and the lowercase mapping. Canonical combining classes (needed
only to reorder runs of marks) come from Python's unicodedata and are checked
against the reference's NFD ordering."""
import sys
import unicodedata

import tokenizers
from tokenizers import normalizers as N, pre_tokenizers as P

out_path = sys.argv[1]
clean = N.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
cjk = N.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
strip = N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
lower = N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
nfd = N.NFD()
pre = P.BertPreTokenizer()

DROP, SPACE, CJK, PUNCT, WS, MN, HAS_NFD, HAS_LOWER = 1, 2, 4, 8, 16, 32, 64, 128
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
MAX_CP = 0x110000

def hangul_nfd(cp):
    s = cp - HANGUL_FIRST
    l, v, t = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return [l, v] + ([t] if t != 0x11A7 else [])

flags = bytearray(MAX_CP)
ccc = bytearray(MAX_CP)
nfd_map, lower_map = {}, {}
for cp in range(MAX_CP):
    if 0xD800 <= cp < 0xE000:
        flags[cp] = DROP  # unreachable: the UTF-8 decoder never yields surrogates
        continue
    c = chr(cp)
    f = 0
    r = clean.normalize_str(c)
    if r == "":
        f |= DROP
    elif r == " " and c != " ":
        f |= SPACE
    else:
        assert r == c, hex(cp)
    if cjk.normalize_str(c) == " " + c + " ":
        f |= CJK
    parts = [p for p, _ in pre.pre_tokenize_str("a" + c + "a")]
    if parts == ["a", "a"]:
        f |= WS
    elif parts == ["a", c, "a"]:
        f |= PUNCT
    else:
        assert parts == ["a" + c + "a"], (hex(cp), parts)
    d = nfd.normalize_str(c)
    if d != c:
        if HANGUL_FIRST <= cp <= HANGUL_LAST:
            assert [ord(x) for x in d] == hangul_nfd(cp), hex(cp)
        else:
            f |= HAS_NFD
            nfd_map[cp] = [ord(x) for x in d]
    elif strip.normalize_str(c) == "":
        f |= MN
    lo = lower.normalize_str(c)
    if lo != c:
        f |= HAS_LOWER
        lower_map[cp] = [ord(x) for x in lo]
    flags[cp] = f
    ccc[cp] = unicodedata.combining(c)

# strip_accents(c) must equal NFD(c) without its nonspacing marks.
for cp, d in nfd_map.items():
    want = strip.normalize_str(chr(cp))
    got = "".join(chr(x) for x in d if not flags[x] & MN)
    assert want == got, (hex(cp), want, got)
# Combining classes: the reference's NFD tables are older than Python's, so a
# class counts only where the reference reorders the mark: one with class k in
# 1..239 sorts before U+0345 (240), one with k > 1 after U+0334 (1). The values
# then come from unicodedata (classes never change once assigned) and must agree
# with the ordering against U+0301 (230).
for cp in range(MAX_CP):
    if 0xD800 <= cp < 0xE000 or flags[cp] & HAS_NFD or cp in (0x301, 0x334, 0x345):
        continue
    c = chr(cp)
    before_240 = nfd.normalize_str("a\u0345" + c) == "a" + c + "\u0345"
    after_1 = nfd.normalize_str("a" + c + "\u0334") == "a\u0334" + c
    if not (before_240 or after_1):
        ccc[cp] = 0
        continue
    assert ccc[cp] != 0, hex(cp)
    swapped = nfd.normalize_str("a\u0301" + c) == "a" + c + "\u0301"
    assert swapped == (0 < ccc[cp] < 230), (hex(cp), ccc[cp])

def two_stage(name, data, shift=7):
    size = 1 << shift
    blocks, index, seen = [], [], {}
    for i in range(0, MAX_CP, size):
        b = bytes(data[i:i + size])
        if b not in seen:
            seen[b] = len(blocks)
            blocks.append(b)
        index.append(seen[b])
    lines = [f"const uint16_t segstream_uc_{name}_index[{len(index)}] = {{"]
    for i in range(0, len(index), 16):
        lines.append("    " + ",".join(str(x) for x in index[i:i + 16]) + ",")
    lines.append("};")
    lines.append(f"const uint8_t segstream_uc_{name}_blocks[{len(blocks) * size}] = {{")
    for b in blocks:
        for i in range(0, size, 32):
            lines.append("    " + ",".join(str(x) for x in b[i:i + 32]) + ",")
    lines.append("};")
    return "\n".join(lines)

def mapping(name, m):
    pool, rows = [], []
    for cp in sorted(m):
        rows.append(f"    {{0x{cp:X},{len(pool)},{len(m[cp])}}},")
        pool.extend(m[cp])
    lines = [f"const segstream_uc_mapping segstream_uc_{name}[{len(rows)}] = {{"] + rows + ["};"]
    lines.append(f"const uint32_t segstream_uc_{name}_pool[{len(pool)}] = {{")
    for i in range(0, len(pool), 12):
        lines.append("    " + ",".join(f"0x{x:X}" for x in pool[i:i + 12]) + ",")
    lines.append("};")
    lines.append(f"const size_t segstream_uc_{name}_count = {len(rows)};")
    return "\n".join(lines)

with open(out_path, "w") as f:
    f.write(f"""/* unicode_tables.c - GENERATED by tools/gen-tokenizer-tables from tokenizers=={tokenizers.__version__}; do not edit.
 *
 * Per code point properties exactly as the Hugging Face BERT normalizer and
 * pre-tokenizer see them (two-stage tables, 128 code points a block), plus
 * the NFD decompositions (Hangul syllables excepted: computed) and lowercase
 * mappings, sorted by code point for binary search. */
#include "model/unicode_tables.h"

""")
    f.write(two_stage("flags", flags) + "\n\n")
    f.write(two_stage("ccc", ccc) + "\n\n")
    f.write(mapping("nfd", nfd_map) + "\n\n")
    f.write(mapping("lower", lower_map) + "\n")
print(f"wrote {out_path}: {len(nfd_map)} decompositions, {len(lower_map)} lowercase mappings", file=sys.stderr)
