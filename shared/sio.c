/* Shared return-code helpers for the pure codecs: the one place that turns a
 * SIO_* code into words for a log line. */
#include "sio.h"

/* Returns a static string; never NULL, also for codes it does not know. */
const char *sio_strerror(int code)
{
    switch (code) {
    case SIO_OK:      return "ok";
    case SIO_AGAIN:   return "need more input";
    case SIO_DONE:    return "no more items";
    case SIO_EPROTO:  return "protocol error";
    case SIO_ETOOBIG: return "over size limit";
    case SIO_EUTF8:   return "invalid UTF-8";
    case SIO_ENOSPC:  return "output buffer too small";
    case SIO_EINVAL:  return "invalid argument";
    default:          return "unknown error";
    }
}
