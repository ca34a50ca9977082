/* permessage-deflate offers (RFC 7692 section 7, RFC 6455 section 9.1
 * grammar): a scanner over the header's tokens, quoted strings and
 * separators, and the checks of one offer's parameters. */
#include <string.h>

#include "sio_ws_pmd.h"

typedef struct scan {
    const char *p, *end;
} scan;

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
        s->p++;
}

/* Reads a token into [*t, *t + *n). Returns 1, or 0 when there is none. */
static int token(scan *s, const char **t, size_t *n)
{
    skip_ows(s);
    *t = s->p;
    while (s->p < s->end && is_tchar((unsigned char)*s->p))
        s->p++;
    *n = (size_t)(s->p - *t);
    return *n > 0;
}

/* Reads a token or a quoted string (whose content must be a token, as
 * RFC 6455 9.1 requires of extension parameter values). */
static int value(scan *s, const char **t, size_t *n)
{
    skip_ows(s);
    if (s->p < s->end && *s->p == '"') {
        scan in;

        s->p++;
        in.p = s->p;
        while (s->p < s->end && *s->p != '"')
            s->p++;
        if (s->p == s->end)
            return 0;
        in.end = s->p++;
        return token(&in, t, n) && in.p == in.end;
    }
    return token(s, t, n);
}

/* Skips to just past the next comma outside quotes (or the end). */
static void next_extension(scan *s)
{
    int quoted = 0;

    while (s->p < s->end && (quoted || *s->p != ',')) {
        if (*s->p == '"')
            quoted = !quoted;
        s->p++;
    }
    if (s->p < s->end)
        s->p++;
}

/* Returns 1 when t[0..n) is word, ASCII letters in either case. */
static int is(const char *t, size_t n, const char *word)
{
    if (n != strlen(word))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)t[i], b = (unsigned char)word[i];

        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + 32);
        if (a != b)
            return 0;
    }
    return 1;
}

/* A window size value: 8 to 15, digits only. */
static int bits(const char *v, size_t n)
{
    return (n == 1 && v[0] >= '8' && v[0] <= '9') ||
           (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5');
}

/* Checks the parameters of one permessage-deflate offer, s just after its
 * name; leaves s at the end of the extension. Returns 1 if taken. */
static int offer_ok(scan *s)
{
    unsigned seen = 0;

    for (;;) {
        const char *k, *v = NULL;
        size_t kn, vn = 0;
        unsigned bit;

        skip_ows(s);
        if (s->p == s->end || *s->p == ',')
            return 1;
        if (*s->p != ';' || (s->p++, !token(s, &k, &kn)))
            return 0;
        skip_ows(s);
        if (s->p < s->end && *s->p == '=') {
            s->p++;
            if (!value(s, &v, &vn))
                return 0;
        }
        if (is(k, kn, "server_no_context_takeover") && !v)
            bit = 1;
        else if (is(k, kn, "client_no_context_takeover") && !v)
            bit = 2;
        else if (is(k, kn, "client_max_window_bits") && (!v || bits(v, vn)))
            bit = 4;
        else if (is(k, kn, "server_max_window_bits") && v && vn == 2 &&
                 v[0] == '1' && v[1] == '5')
            bit = 8;
        else
            return 0;
        if (seen & bit)
            return 0;
        seen |= bit;
    }
}

/* See the header. */
int sio_ws_pmd_accept(const char *h, size_t len)
{
    scan s = { h, h + len };

    while (s.p < s.end) {
        const char *name;
        size_t n;

        if (token(&s, &name, &n) && is(name, n, "permessage-deflate") &&
            offer_ok(&s)) {
            skip_ows(&s);
            if (s.p == s.end || *s.p == ',')
                return 1;
        }
        next_extension(&s);
    }
    return 0;
}
