/* Reference-counted packet buffers (see siod_buf.h). Single-threaded: the
 * count is a plain integer touched only on siod's event-loop thread. */
#include "siod_buf.h"

#include <stdlib.h>

siod_buf *siod_buf_new(size_t len)
{
    if (len > ((size_t)-1) - sizeof(siod_buf) - 2)
        return NULL;
    siod_buf *b = malloc(sizeof *b + len + 1);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->len = len;
    b->bytes[0] = '4';
    return b;
}

siod_buf *siod_buf_ref(siod_buf *b)
{
    b->refs++;
    return b;
}

void siod_buf_unref(siod_buf *b)
{
    if (b != NULL && --b->refs == 0)
        free(b);
}
