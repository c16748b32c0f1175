/* stopwords.c - small committed stop-word lists (English, Chinese) kept out of
 * segment labels. Sorted arrays searched by bsearch: no hash order involved. */
#include "cluster/internal.h"

#include <stdlib.h>
#include <string.h>

/* English: function words plus the web/question noise of short texts. Sorted (strcmp). */
static const char *const english[] = {
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
    "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "best", "between", "both",
    "but", "by", "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do", "does", "doesn't",
    "doing", "don't", "down", "during", "each", "few", "for", "from", "further", "get", "gets", "getting",
    "had", "hadn't", "has", "hasn't", "have", "haven't", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "i'm", "if", "in", "into", "is", "isn't", "it", "it's", "its",
    "itself", "just", "let's", "like", "make", "me", "more", "most", "much", "must", "my", "myself", "new",
    "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or", "other", "ought", "our",
    "ours", "ourselves", "out", "over", "own", "same", "shall", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "two", "under", "until", "up", "use", "used", "using", "very",
    "via", "was", "wasn't", "way", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "without", "won't", "would", "www", "you", "your", "yours", "yourself",
    "yourselves",
};

/* Chinese: the commonest function characters and words. Sorted (strcmp on UTF-8). */
static const char *const chinese[] = {
    "一", "一个", "上", "不", "为", "也", "了", "他", "们", "你", "吗", "呢", "和", "在", "她", "就",
    "我", "或", "所以", "把", "是", "有", "没有", "的", "着", "而", "被", "让", "这", "那", "都",
};

static int cmp(const void *key, const void *item) { return strcmp(key, *(const char *const *)item); }

int cl_is_stopword(const char *word)
{
    return bsearch(word, english, sizeof english / sizeof *english, sizeof *english, cmp) != NULL ||
           bsearch(word, chinese, sizeof chinese / sizeof *chinese, sizeof *chinese, cmp) != NULL;
}

/* The lists must stay sorted for bsearch: checked by the unit tests. */
int cl_stopwords_sorted(void)
{
    for (size_t i = 1; i < sizeof english / sizeof *english; i++)
        if (strcmp(english[i - 1], english[i]) >= 0)
            return 0;
    for (size_t i = 1; i < sizeof chinese / sizeof *chinese; i++)
        if (strcmp(chinese[i - 1], chinese[i]) >= 0)
            return 0;
    return 1;
}
