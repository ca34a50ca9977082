/* The error model's helpers (siod_err.h): code to text, and the detail a
 * failing function leaves in its caller's buffer. */
#include "siod_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *siod_strerror(int code)
{
    if (code == 0)
        return "success";
    return strerror(code < 0 ? -code : code);
}

int siod_err_set(char *why, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || cap == 0)
        return code;
    va_start(ap, fmt);
    if (vsnprintf(why, cap, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
    return code;
}
