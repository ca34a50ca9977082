/* Shared return-code helpers for the pure codecs: the one place that turns a
 * SIO_* code into words for a log line; and the node tag's syntax. */
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

/* See sio.h. */
int sio_node_tag_valid(const char *tag, size_t len)
{
    size_t i;

    if (tag == NULL || len != SIO_NODE_TAG_LEN)
        return 0;
    for (i = 0; i < len; i++) {
        char c = tag[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}
