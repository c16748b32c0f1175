/* redact.h - which configuration keys hold secrets, and hiding them.
 *
 * One rule for every place a setting can leak (config --show, logs, error
 * messages): a key is secret when its name contains, case-insensitively,
 * "password", "secret", "token", "sasl.jaas" or "ssl.key" as whole name
 * parts, i.e. bounded by the start or end of the name or by '.', '_' or '-'
 * ("kafka.sasl.password", "api_token", "ssl.key.pem" are secret;
 * "encoder.batch_tokens" and "ssl.keystore.location" are not, while
 * "ssl.keystore.password" is). Its value is then written as "***". Pure
 * functions, any thread. */
#ifndef SEGSTREAM_CONSUMER_REDACT_H
#define SEGSTREAM_CONSUMER_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define SEGSTREAM_REDACTED "***"

/* True when the value of `key` must never be shown. NULL is not secret. */
bool segstream_key_is_secret(const char *key);

/* `value`, or "***" when key is secret (a static string: do not free). */
const char *segstream_redact(const char *key, const char *value);

/* Replaces, in place, every occurrence of `secret` in the NUL-terminated
 * `text` by "***" (the text never grows: occurrences shorter than 3 bytes
 * become as many '*'). An empty or NULL secret does nothing. Returns the
 * number of occurrences replaced. */
size_t segstream_redact_in(char *text, const char *secret);

#endif
