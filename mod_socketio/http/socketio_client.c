/* The client bundle: GET <location>socket.io.js (and the minified, ESM and
 * msgpack builds and their source maps, when present next to the file
 * SocketIOClientScript names) answered like the reference server's
 * serveClient: Cache-Control "public, max-age=0", an ETag made of the
 * bundle's version banner and the file's modification time, and 304 when
 * If-None-Match matches it. The file is sent as a file bucket, so any
 * output filter the admin configured (mod_deflate) applies. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_buckets.h"
#include "apr_file_io.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* The names the reference serves (its CLIENT_FILES). */
static const char *const client_files[] = {
    "socket.io.js", "socket.io.js.map",
    "socket.io.min.js", "socket.io.min.js.map",
    "socket.io.esm.min.js", "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
    NULL
};

#define BANNER "Socket.IO v"
#define BANNER_SCAN 512

static const char *client_name(const char *uri)
{
    const char *base = strrchr(uri, '/');
    int i;

    base = base ? base + 1 : uri;
    for (i = 0; client_files[i]; i++) {
        if (!strcmp(base, client_files[i]))
            return client_files[i];
    }
    return NULL;
}

/* Returns the file to send for name: the configured script itself for
 * socket.io.js, else the file of that name in the script's directory. */
static const char *client_path(apr_pool_t *p, const char *script,
                               const char *name)
{
    const char *slash;

    if (!strcmp(name, "socket.io.js"))
        return script;
    slash = strrchr(script, '/');
    if (!slash)
        return name;
    return apr_pstrcat(p, apr_pstrmemdup(p, script, slash - script + 1),
                       name, NULL);
}

/* Returns the version in the bundle's banner ("Socket.IO v4.8.1"), or
 * NULL; the file position is left at the start. */
static const char *banner_version(apr_pool_t *p, apr_file_t *fd)
{
    char buf[BANNER_SCAN + 1];
    apr_size_t n = BANNER_SCAN;
    apr_off_t zero = 0;
    const char *v, *end;

    if (apr_file_read(fd, buf, &n) != APR_SUCCESS)
        n = 0;
    buf[n] = '\0';
    apr_file_seek(fd, APR_SET, &zero);
    v = strstr(buf, BANNER);
    if (!v)
        return NULL;
    v += strlen(BANNER);
    for (end = v; *end && (apr_isalnum(*end) || *end == '.' || *end == '-' ||
                           *end == '+');
         end++)
        ;
    return end > v ? apr_pstrmemdup(p, v, end - v) : NULL;
}

/* Returns 1 when If-None-Match names etag (strong or weak) or is "*". */
static int etag_matches(request_rec *r, const char *etag)
{
    const char *inm = apr_table_get(r->headers_in, "If-None-Match");
    char *list, *tok, *state;

    if (!inm)
        return 0;
    list = apr_pstrdup(r->pool, inm);
    for (tok = apr_strtok(list, ", \t", &state); tok;
         tok = apr_strtok(NULL, ", \t", &state)) {
        if (!strcmp(tok, "*") || !strcmp(tok, etag) ||
            (!strncmp(tok, "W/", 2) && !strcmp(tok + 2, etag)))
            return 1;
    }
    return 0;
}

static int not_found(socketio_req *sr, const char *why, const char *path)
{
    static const char msg[] = "Not Found\n";

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, sr->r,
                  "mod_socketio: client file not served: %s%s%s", why,
                  path ? ": " : "", path ? path : "");
    return socketio_respond(sr, HTTP_NOT_FOUND, SOCKETIO_CT_TEXT,
                            msg, sizeof(msg) - 1);
}

/* See socketio_http_int.h. */
int socketio_client_serve(socketio_req *sr)
{
    request_rec *r = sr->r;
    const char *name, *path, *version, *etag;
    apr_bucket_brigade *bb;
    apr_finfo_t fi;
    apr_file_t *fd;
    apr_status_t rv;
    int is_map;

    if (!socketio_config_serve_client(sr->dconf) ||
        (r->method_number != M_GET) || !(name = client_name(r->uri)))
        return DECLINED;
    if (!sr->sconf->client_script)
        return not_found(sr, "SocketIOClientScript is not set", NULL);
    path = client_path(r->pool, sr->sconf->client_script, name);
    rv = apr_file_open(&fd, path, APR_FOPEN_READ | APR_FOPEN_BINARY |
                       APR_FOPEN_SENDFILE_ENABLED, APR_OS_DEFAULT, r->pool);
    if (socketio_fd_exhausted(rv))
        return socketio_respond_no_descriptor(sr, "the client script", rv);
    if (rv != APR_SUCCESS)
        return not_found(sr, "cannot open", path);
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME |
                           APR_FINFO_TYPE, fd);
    if (rv != APR_SUCCESS || fi.filetype != APR_REG) {
        apr_file_close(fd);
        return not_found(sr, "not a regular file", path);
    }

    is_map = strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".map");
    version = is_map ? NULL : banner_version(r->pool, fd);
    etag = apr_psprintf(r->pool, "\"%s%s%" APR_UINT64_T_HEX_FMT "-%"
                        APR_UINT64_T_HEX_FMT "\"", version ? version : "",
                        version ? "-" : "", (apr_uint64_t)fi.mtime,
                        (apr_uint64_t)fi.size);
    apr_table_setn(r->headers_out, "ETag", etag);
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=0");
    if (etag_matches(r, etag)) {
        apr_file_close(fd);
        return socketio_respond(sr, HTTP_NOT_MODIFIED, NULL, NULL, 0);
    }

    r->status = HTTP_OK;
    socketio_add_cors_headers(sr);
    ap_set_content_type(r, is_map ? "application/json; charset=utf-8"
                                  : "application/javascript; charset=utf-8");
    ap_set_content_length(r, fi.size);
    if (r->header_only) {
        apr_file_close(fd);
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, fd, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r,
                      "mod_socketio: sending %s failed", path);
    return OK;
}
