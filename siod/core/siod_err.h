/* siod's error model in two helpers (the model itself is described at the
 * top of siod_core.h): rendering a negative errno code for a log line, and
 * filling a caller's detail buffer while returning the code. */
#ifndef SIOD_ERR_H
#define SIOD_ERR_H

#include <stddef.h>

/* Returns the text of code, a negative errno code as siod's functions
 * return them ("Cannot allocate memory" for -ENOMEM); a positive errno is
 * taken as its negative; 0 gives "success". The string is libc's, valid
 * until the next call: use it right away, on siod's thread. */
const char *siod_strerror(int code);

/* Writes the printf-style detail fmt into why[0..cap) (NUL-terminated,
 * truncated if need be; nothing when why is NULL or cap is 0) and returns
 * code, so a failing function can end with
 *     return siod_err_set(why, cap, -EPROTO, "conn %llu in use", conn);
 * The detail must say what failed in the caller's terms; the code's own
 * text is the caller's to add (siod_strerror) where it helps. */
int siod_err_set(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
