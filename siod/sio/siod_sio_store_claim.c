/* Connection state recovery's claim in Redis (siod_sio_store_redis.c
 * sends it with EVAL), a Lua script apart from the C that runs it. */
#include "siod_sio_int.h"

#include <stdio.h>
#include <string.h>

/* How far before a client's offset (its emitter's clock against Redis's)
 * the claim looks for it in the stream. */
#define SKEW_MS 60000
/* How long a claimed record stays readable by its take (sent again). */
#define TAKEN_KEEP_MS 60000

/* KEYS[1] the record, KEYS[2] the stream, KEYS[3] this take's own key;
 * ARGV[1] the client's offset, ARGV[2] how far before it to look, ARGV[3]
 * how long the record stays at KEYS[3]. The record moves to KEYS[3], so
 * that the same take sent again (its answer lost with the connection)
 * reads it there. Answers {"none"} (no record), {"gone"} (its offset not
 * in the stream: the record is taken all the same, as the reference's
 * restoreSession deletes it) or {"ok", record, packets}: the entries
 * after the offset, oldest first, each as "<len>:<blob>". Walks back from
 * the newest entry (offsets are not the stream's ids: a packet carries
 * its offset before Redis sees it). */
static const char claim_script[] =
    "local rec = redis.call('GET', KEYS[1])\n"
    "if rec then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('SET', KEYS[3], rec, 'PX', ARGV[3])\n"
    "else\n"
    "  rec = redis.call('GET', KEYS[3])\n"
    "  if not rec then return {'none'} end\n"
    "end\n"
    "local ms = tonumber(string.match(ARGV[1], '^(%d+)%-'))\n"
    "if not ms then return {'gone'} end\n"
    "local low = ms - tonumber(ARGV[2])\n"
    "if low < 0 then low = 0 end\n"
    "local hi, found, got = '+', false, {}\n"
    "while true do\n"
    "  local b = redis.call('XREVRANGE', KEYS[2], hi, tostring(low),\n"
    "                       'COUNT', 256)\n"
    "  for i = 1, #b do\n"
    "    local f = b[i][2]\n"
    "    if f[2] == ARGV[1] then found = true break end\n"
    "    got[#got + 1] = f[4]\n"
    "  end\n"
    "  if found or #b < 256 then break end\n"
    "  hi = '(' .. b[#b][1]\n"
    "end\n"
    "if not found then return {'gone'} end\n"
    "local out = {}\n"
    "for i = #got, 1, -1 do out[#out + 1] = #got[i] .. ':' .. got[i] end\n"
    "return {'ok', rec, table.concat(out)}\n";

void siod_sio_claim_command(siod_sio_claim_cmd *c, const char *key,
                            const char *stream, const char *taken_key,
                            const char *offset)
{
    int n = snprintf(c->skew, sizeof c->skew, "%d", SKEW_MS);
    int m = snprintf(c->ttl, sizeof c->ttl, "%d", TAKEN_KEEP_MS);
    const char *argv[SIOD_SIO_CLAIM_ARGC] = { "EVAL", claim_script, "3", key,
                                              stream, taken_key, offset,
                                              c->skew, c->ttl };
    const size_t lens[SIOD_SIO_CLAIM_ARGC] = {
        4, sizeof claim_script - 1, 1, strlen(key), strlen(stream),
        strlen(taken_key), strlen(offset), (size_t)n, (size_t)m,
    };

    memcpy(c->argv, argv, sizeof argv);
    memcpy(c->lens, lens, sizeof lens);
}
