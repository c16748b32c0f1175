/* wordpiece.c - greedy WordPiece (see wordpiece.h). Candidate slices shrink
 * one UTF-8 character at a time from the right, starting no longer than the
 * vocabulary's longest piece, so a lookup never splits a character. */
#include "model/wordpiece.h"

static size_t char_start_before(const char *s, size_t end)
{
    do
        end--;
    while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80);
    return end;
}

int segstream_wordpiece(const segstream_vocab *vocab, const char *word, size_t len, size_t nchars,
                        size_t max_chars, int32_t unk_id, int32_t *ids, int cap)
{
    if (nchars > max_chars) {
        ids[0] = unk_id;
        return 1;
    }
    size_t max_piece = segstream_vocab_max_piece_bytes(vocab);
    int n = 0;
    size_t start = 0;
    while (start < len) {
        size_t end = len;
        if (end - start > max_piece) {
            end = start + max_piece;
            /* back up to a character boundary */
            while (end > start && end < len && ((unsigned char)word[end] & 0xC0) == 0x80)
                end--;
        }
        int32_t id = -1;
        while (end > start) {
            id = segstream_vocab_find(vocab, start > 0, word + start, end - start);
            if (id >= 0)
                break;
            end = char_start_before(word, end);
        }
        if (id < 0) {
            ids[0] = unk_id;
            return 1;
        }
        if (n == cap)
            return -1;
        ids[n++] = id;
        start = end;
    }
    return n;
}
