/* libFuzzer target for shared/sio_ws.c: parses a stream of frames as a
 * server and as a client, with and without permessage-deflate's RSV1
 * allowed, reassembling messages, and checks the parser's promises:
 * results within the input, limits kept, text valid UTF-8 unless
 * compressed, every proper prefix of an accepted frame answered with
 * SIO_AGAIN; and shared/sio_ws_pmd.c's offer scanner on the same bytes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sio_utf8.h"
#include "sio_ws.h"
#include "sio_ws_pmd.h"

static void run(const unsigned char *data, size_t size, int server,
                uint64_t max_message, int rsv1)
{
    unsigned char *buf = malloc(size ? size : 1);
    unsigned char *pristine = malloc(size ? size : 1);
    unsigned char *msg = malloc(size ? size : 1);
    unsigned char *scratch = malloc(size + 1);
    size_t off = 0, used, mlen = 0, used2;
    sio_ws_parser p, saved;
    sio_ws_frame f, g;
    int rc;

    if (!buf || !pristine || !msg || !scratch)
        goto out;
    memcpy(buf, data, size);
    memcpy(pristine, data, size);
    sio_ws_parser_init(&p, server, max_message);
    p.allow_rsv1 = rsv1;
    for (;;) {
        saved = p;
        rc = sio_ws_parse(&p, buf + off, size - off, &used, &f);
        if (rc == SIO_AGAIN) {
            assert(memcmp(buf + off, pristine + off, size - off) == 0);
            break;
        }
        if (rc < 0) {
            int cc = sio_ws_close_code(rc);

            assert(rc == SIO_EPROTO || rc == SIO_ETOOBIG || rc == SIO_EUTF8);
            assert(cc == 1002 || cc == 1007 || cc == 1009);
            /* broken for good */
            assert(sio_ws_parse(&p, buf + off, size - off, &used, &f) < 0);
            break;
        }
        assert(rc == SIO_OK);
        assert(used >= 2 && used <= size - off);
        assert(f.payload >= buf + off && f.payload + f.len == buf + off + used);
        assert(used >= f.len + sio_ws_header_len(f.len, server));
        /* a strict prefix of an accepted frame is never an error */
        {
            sio_ws_parser q = saved;

            memcpy(scratch, pristine + off, used - 1);
            assert(sio_ws_parse(&q, scratch, used - 1, &used2, &g) ==
                   SIO_AGAIN);
        }
        if (f.opcode >= 0x8) {
            assert(f.fin && f.len <= SIO_WS_MAX_CONTROL);
            assert(f.opcode == SIO_WS_CLOSE || f.opcode == SIO_WS_PING ||
                   f.opcode == SIO_WS_PONG);
            if (f.opcode == SIO_WS_CLOSE) {
                int code = sio_ws_close_payload_code(f.payload, f.len);
                unsigned char again[SIO_WS_MAX_CONTROL];

                assert(f.len != 1);
                assert(sio_utf8_valid(f.payload + (f.len ? 2 : 0),
                                      f.len ? f.len - 2 : 0));
                if (f.len) {
                    /* a received payload is re-encodable as is */
                    memcpy(scratch, f.payload + 2, f.len - 2);
                    scratch[f.len - 2] = 0;
                    if (memchr(scratch, 0, f.len - 2) == NULL)
                        assert(sio_ws_close_payload(again, (uint16_t)code,
                                                    (char *)scratch) == f.len &&
                               memcmp(again, f.payload, f.len) == 0);
                } else {
                    assert(code == 1005);
                }
            }
        } else {
            assert(f.message_opcode == SIO_WS_TEXT ||
                   f.message_opcode == SIO_WS_BINARY);
            assert(mlen + f.len <= max_message);
            memcpy(msg + mlen, f.payload, f.len);
            mlen += f.len;
            assert(!f.compressed || rsv1);
            if (f.fin) {
                if (f.message_opcode == SIO_WS_TEXT && !f.compressed)
                    assert(sio_utf8_valid(msg, mlen));
                mlen = 0;
                assert(!p.in_message);
            } else {
                assert(p.in_message && p.message_len == mlen);
            }
        }
        off += used;
    }
out:
    free(buf);
    free(pristine);
    free(msg);
    free(scratch);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    uint64_t max;

    if (size < 1)
        return 0;
    /* first byte: the message limit, small enough to be reached */
    max = data[0] == 0xff ? UINT64_MAX : (uint64_t)data[0] * 16;
    run(data + 1, size - 1, 1, max, 0);
    run(data + 1, size - 1, 0, max, 0);
    run(data + 1, size - 1, 1, max, 1);
    {
        int ok = sio_ws_pmd_accept((const char *)data, size);

        assert(ok == 0 || ok == 1);
        /* an accepted header is still accepted with more offers after it */
        if (ok && size < 4096) {
            char *more = malloc(size + 3);

            if (more) {
                memcpy(more, data, size);
                memcpy(more + size, ", x", 3);
                assert(sio_ws_pmd_accept(more, size + 3) == 1);
                free(more);
            }
        }
    }
    return 0;
}
