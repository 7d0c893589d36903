/*
 * execguard-execve-wrapper: the program a patched zsh execs (through
 * EXEC_WRAPPER) in place of every external command, inside the sandbox.
 *
 *     execguard-execve-wrapper FILE ARGV0 [ARGV1 ...]
 *
 * It asks the execguard server, over the datagram socket whose fd number is
 * in CODEX_ESCALATE_SOCKET, what to do with this one exec (wire protocol:
 * docs in zsh-bridge/, Codex-compatible):
 *
 *   1. create a stream socketpair; send one end to the server as a 1-byte
 *      datagram (0x00) carrying that fd (SCM_RIGHTS);
 *   2. on the stream: send EscalateRequest {file, argv, workdir, env} as a
 *      frame (u32 little-endian length + JSON), read EscalateResponse;
 *   3. Run      -> execv(FILE, ARGV) here, environment untouched;
 *      Escalate -> send {"fds":[0,1,2]} with stdin/stdout/stderr attached,
 *                  wait for {"exit_code":N}, exit N;
 *      Deny     -> "Execution denied[: reason]" on stderr, exit 1.
 *   Any protocol or exec error: "Error: ..." on stderr, exit 1.
 *
 * The server is outside the sandbox and trusted to decide, but its frames
 * are still checked: bounded sizes, strict parsing, unexpected fds closed.
 * Strings that are not valid UTF-8 are sent with each bad byte as the
 * escape \udcXX (Python's "surrogateescape"), so nothing is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define SOCKET_VAR "CODEX_ESCALATE_SOCKET"
#define MAX_RESPONSE (64 * 1024)       /* largest frame accepted from the server */
#define MAX_REQUEST (256 * 1024 * 1024) /* sanity bound on what we send */

extern char **environ;

static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("Error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- growable output buffer ------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
    if (n > MAX_REQUEST || b->len > MAX_REQUEST - n)
        fail("request too large");
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            fail("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t c;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xe0) == 0xc0)
        len = 2, c = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, c = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, c = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    /* reject overlong forms, surrogates and values past U+10FFFF */
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
        (len == 4 && c < 0x10000) || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return len;
}

/* Append the first n bytes of s as a JSON string literal. */
static void put_json_string(struct buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    char esc[8];
    put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
            i++;
        } else if ((len = utf8_seq(u + i, n - i)) > 0) {
            put(b, u + i, len);
            i += len;
        } else {
            snprintf(esc, sizeof esc, "\\udc%02x", c); /* surrogateescape */
            put(b, esc, 6);
            i++;
        }
    }
    put(b, "\"", 1);
}

/* ---- socket I/O ---------------------------------------------------------- */

/* Send all of data; the fds (if any) ride on the first sendmsg. */
static void send_all(int sock, const char *data, size_t n, const int *fds, size_t nfds)
{
    union {
        char space[CMSG_SPACE(sizeof(int) * 3)];
        struct cmsghdr align;
    } ctl;
    if (nfds > 3)
        fail("internal: too many fds");
    while (n > 0) {
        struct iovec iov = {(void *)data, n};
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (nfds > 0) {
            memset(&ctl, 0, sizeof ctl);
            msg.msg_control = ctl.space;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fail("cannot send to the execguard server: %s", strerror(errno));
        }
        data += r;
        n -= (size_t)r;
        nfds = 0;
    }
}

static void send_frame(int sock, const struct buf *json, const int *fds, size_t nfds)
{
    if (json->len > UINT32_MAX)
        fail("request too large");
    struct buf frame = {0};
    uint32_t len = (uint32_t)json->len;
    unsigned char hdr[4] = {len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, len >> 24};
    put(&frame, hdr, 4);
    put(&frame, json->p, json->len);
    send_all(sock, frame.p, frame.len, fds, nfds);
    free(frame.p);
}

/* Read exactly n bytes; any fds the server attaches are closed (we never
 * expect any).  Returns 0 on a clean EOF before the first byte. */
static int recv_exact(int sock, char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        union {
            char space[CMSG_SPACE(sizeof(int) * 16)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {out + got, n - got};
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.space;
        msg.msg_controllen = sizeof ctl.space;
        ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fail("cannot read from the execguard server: %s", strerror(errno));
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                    close(fd);
                }
            }
        }
        if (r == 0) {
            if (got == 0)
                return 0;
            fail("the execguard server closed the connection mid-message");
        }
        got += (size_t)r;
    }
    return 1;
}

/* Read one frame into a NUL-terminated malloc'd string. */
static char *recv_frame(int sock, size_t *len_out)
{
    unsigned char hdr[4];
    if (!recv_exact(sock, (char *)hdr, 4))
        fail("the execguard server closed the connection without answering");
    uint32_t len = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    if (len > MAX_RESPONSE)
        fail("oversized message from the execguard server (%u bytes)", (unsigned)len);
    char *body = malloc((size_t)len + 1);
    if (!body)
        fail("out of memory");
    if (len > 0 && !recv_exact(sock, body, len))
        fail("the execguard server closed the connection mid-message");
    body[len] = '\0';
    *len_out = len;
    return body;
}

/* ---- a small strict JSON reader for the server's answers ---------------- */

struct json {
    const char *s, *end;
};

static void bad_json(void) { fail("malformed message from the execguard server"); }

static void ws(struct json *j)
{
    while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r'))
        j->s++;
}

static int peek(struct json *j)
{
    ws(j);
    return j->s < j->end ? (unsigned char)*j->s : -1;
}

static void expect(struct json *j, char c)
{
    if (peek(j) != (unsigned char)c)
        bad_json();
    j->s++;
}

static int literal(struct json *j, const char *word)
{
    size_t n = strlen(word);
    ws(j);
    if ((size_t)(j->end - j->s) >= n && memcmp(j->s, word, n) == 0) {
        j->s += n;
        return 1;
    }
    return 0;
}

static unsigned hex4(struct json *j)
{
    unsigned v = 0;
    if (j->end - j->s < 4)
        bad_json();
    for (int i = 0; i < 4; i++) {
        char c = *j->s++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else bad_json();
    }
    return v;
}

/* Parse a string; if out is non-NULL, decode it (UTF-8) into out, which
 * must have room for the raw length + 1 (decoding never grows it). */
static void string(struct json *j, char *out)
{
    expect(j, '"');
    char *o = out;
    while (1) {
        if (j->s >= j->end)
            bad_json();
        unsigned char c = (unsigned char)*j->s++;
        if (c == '"')
            break;
        if (c < 0x20)
            bad_json();
        if (c != '\\') {
            if (o) *o++ = (char)c;
            continue;
        }
        if (j->s >= j->end)
            bad_json();
        c = (unsigned char)*j->s++;
        unsigned u;
        switch (c) {
        case '"': case '\\': case '/': u = c; break;
        case 'b': u = '\b'; break;
        case 'f': u = '\f'; break;
        case 'n': u = '\n'; break;
        case 'r': u = '\r'; break;
        case 't': u = '\t'; break;
        case 'u':
            u = hex4(j);
            if (u >= 0xd800 && u < 0xdc00 && j->end - j->s >= 6 && j->s[0] == '\\' && j->s[1] == 'u') {
                const char *save = j->s;
                j->s += 2;
                unsigned lo = hex4(j);
                if (lo >= 0xdc00 && lo < 0xe000)
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                else
                    j->s = save;
            }
            if (u >= 0xd800 && u < 0xe000)
                u = '?'; /* lone surrogate: not representable, shown as '?' */
            break;
        default:
            bad_json();
        }
        if (!o)
            continue;
        /* \uXXXX takes 6 input bytes and at most 4 output bytes */
        if (u < 0x80) *o++ = (char)u;
        else if (u < 0x800) *o++ = (char)(0xc0 | u >> 6), *o++ = (char)(0x80 | (u & 0x3f));
        else if (u < 0x10000)
            *o++ = (char)(0xe0 | u >> 12), *o++ = (char)(0x80 | ((u >> 6) & 0x3f)),
            *o++ = (char)(0x80 | (u & 0x3f));
        else
            *o++ = (char)(0xf0 | u >> 18), *o++ = (char)(0x80 | ((u >> 12) & 0x3f)),
            *o++ = (char)(0x80 | ((u >> 6) & 0x3f)), *o++ = (char)(0x80 | (u & 0x3f));
    }
    if (o)
        *o = '\0';
}

static long long integer(struct json *j)
{
    ws(j);
    int neg = 0;
    long long v = 0;
    if (j->s < j->end && *j->s == '-')
        neg = 1, j->s++;
    if (j->s >= j->end || *j->s < '0' || *j->s > '9')
        bad_json();
    while (j->s < j->end && *j->s >= '0' && *j->s <= '9') {
        if (v > (LLONG_MAX - 9) / 10)
            bad_json();
        v = v * 10 + (*j->s++ - '0');
    }
    if (j->s < j->end && (*j->s == '.' || *j->s == 'e' || *j->s == 'E'))
        bad_json();
    return neg ? -v : v;
}

/* Skip any value (unknown fields are ignored, as serde does). */
static void skip(struct json *j, int depth)
{
    if (depth > 32)
        bad_json();
    int c = peek(j);
    if (c == '"') {
        string(j, NULL);
    } else if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->s++;
        if (peek(j) == close) {
            j->s++;
            return;
        }
        do {
            if (close == '}') {
                string(j, NULL);
                expect(j, ':');
            }
            skip(j, depth + 1);
        } while (peek(j) == ',' && j->s++);
        expect(j, close);
    } else if (literal(j, "true") || literal(j, "false") || literal(j, "null")) {
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        j->s++;
        while (j->s < j->end && strchr("0123456789.eE+-", *j->s))
            j->s++;
    } else {
        bad_json();
    }
}

/* Iterate over an object's members: returns 1 with the key decoded into
 * key (truncated keys never match), 0 at the end. */
static int member(struct json *j, int *first, char *key, size_t keycap)
{
    if (*first) {
        expect(j, '{');
        *first = 0;
        if (peek(j) == '}') {
            j->s++;
            return 0;
        }
    } else {
        int c = peek(j);
        if (c == '}') {
            j->s++;
            return 0;
        }
        expect(j, ',');
    }
    /* decode into a scratch copy, then keep at most keycap-1 bytes */
    const char *start = j->s;
    struct json probe = *j;
    string(&probe, NULL);
    size_t raw = (size_t)(probe.s - start);
    char *tmp = malloc(raw + 1);
    if (!tmp)
        fail("out of memory");
    string(j, tmp);
    if (strlen(tmp) < keycap)
        strcpy(key, tmp);
    else
        key[0] = '\0';
    free(tmp);
    expect(j, ':');
    return 1;
}

static void end_of_input(struct json *j)
{
    if (peek(j) != -1)
        bad_json();
}

enum action { ACT_NONE, ACT_RUN, ACT_ESCALATE, ACT_DENY };

/* {"action":"Run"|"Escalate"|{"Deny":{"reason":string|null}}} */
static enum action parse_response(const char *text, size_t len, char **reason)
{
    struct json j = {text, text + len};
    char key[32];
    int first = 1;
    enum action act = ACT_NONE;
    *reason = NULL;
    while (member(&j, &first, key, sizeof key)) {
        if (strcmp(key, "action") != 0 || act != ACT_NONE) {
            skip(&j, 1);
            continue;
        }
        if (peek(&j) == '"') {
            char name[16];
            struct json probe = j;
            string(&probe, NULL);
            if (probe.s - j.s > (long)sizeof name)
                bad_json();
            string(&j, name);
            if (strcmp(name, "Run") == 0) act = ACT_RUN;
            else if (strcmp(name, "Escalate") == 0) act = ACT_ESCALATE;
            else bad_json();
            continue;
        }
        /* externally tagged enum: exactly one member, "Deny" */
        int f2 = 1;
        if (!member(&j, &f2, key, sizeof key) || strcmp(key, "Deny") != 0)
            bad_json();
        int f3 = 1;
        while (member(&j, &f3, key, sizeof key)) {
            if (strcmp(key, "reason") == 0 && peek(&j) == '"' && !*reason) {
                struct json probe = j;
                string(&probe, NULL);
                *reason = malloc((size_t)(probe.s - j.s) + 1);
                if (!*reason)
                    fail("out of memory");
                string(&j, *reason);
            } else if (strcmp(key, "reason") == 0 && literal(&j, "null")) {
            } else {
                skip(&j, 3);
            }
        }
        if (member(&j, &f2, key, sizeof key))
            bad_json();
        act = ACT_DENY;
    }
    end_of_input(&j);
    if (act == ACT_NONE)
        bad_json();
    return act;
}

/* {"exit_code":N} -> an exit status 0..255 (anything else: 1) */
static int parse_result(const char *text, size_t len)
{
    struct json j = {text, text + len};
    char key[32];
    int first = 1, have = 0;
    long long code = 1;
    while (member(&j, &first, key, sizeof key)) {
        if (strcmp(key, "exit_code") == 0 && !have) {
            code = integer(&j);
            have = 1;
        } else {
            skip(&j, 1);
        }
    }
    end_of_input(&j);
    if (!have)
        bad_json();
    return code >= 0 && code <= 255 ? (int)code : 1;
}

/* ---- the request ---------------------------------------------------------- */

static int skipped_var(const char *entry)
{
    static const char *names[] = {SOCKET_VAR, "EXEC_WRAPPER", "BASH_EXEC_WRAPPER"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(entry, names[i], n) == 0 && entry[n] == '=')
            return 1;
    }
    return 0;
}

static void build_request(struct buf *b, const char *file, char **argv)
{
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        fail("cannot determine the working directory: %s", strerror(errno));
    puts_(b, "{\"file\":");
    put_json_string(b, file, strlen(file));
    puts_(b, ",\"argv\":[");
    for (char **a = argv; *a; a++) {
        if (a != argv)
            puts_(b, ",");
        put_json_string(b, *a, strlen(*a));
    }
    puts_(b, "],\"workdir\":");
    put_json_string(b, cwd, strlen(cwd));
    free(cwd);
    puts_(b, ",\"env\":{");
    int any = 0;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e || skipped_var(*e))
            continue;
        /* keep the first of duplicate names, as getenv() would */
        size_t klen = (size_t)(eq - *e);
        int dup = 0;
        for (char **p = environ; p < e && !dup; p++)
            dup = strncmp(*p, *e, klen + 1) == 0;
        if (dup)
            continue;
        if (any)
            puts_(b, ",");
        any = 1;
        put_json_string(b, *e, klen);
        puts_(b, ":");
        put_json_string(b, eq + 1, strlen(eq + 1));
    }
    puts_(b, "}}");
}

/* ---- main ------------------------------------------------------------------ */

static int handshake_socket(void)
{
    const char *v = getenv(SOCKET_VAR);
    if (!v || !*v)
        fail("%s is not set", SOCKET_VAR);
    long fd = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || fd > INT_MAX / 10)
            fail("%s is not a file descriptor number: %s", SOCKET_VAR, v);
        fd = fd * 10 + (*p - '0');
    }
    if (fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
        fail("%s=%s is not an open file descriptor", SOCKET_VAR, v);
    /* The sandbox's seccomp filter may refuse getsockopt (EPERM, as the
     * reference's does); only a definite answer counts against the fd. */
    int type = 0;
    socklen_t tl = sizeof type;
    int r = getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl);
    if ((r == 0 && type != SOCK_DGRAM) || (r < 0 && errno == ENOTSOCK))
        fail("%s=%s is not a datagram socket", SOCKET_VAR, v);
    return (int)fd;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE ARGV0 [ARGS...]  (run by a patched zsh)\n",
                argc > 0 ? argv[0] : "execguard-execve-wrapper");
        return 1;
    }
    const char *file = argv[1];
    char **prog_argv = argv + 2;
    int hs = handshake_socket();

    /* 1. a private stream for this exec; hand the server its end */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        fail("socketpair: %s", strerror(errno));
    int sock = sv[0];
    const char hello = 0;
    send_all(hs, &hello, 1, &sv[1], 1);
    /* sv[1] stays open until the first answer (avoids an early EOF on
     * platforms that release in-flight fds lazily) */

    /* 2. the request and the decision */
    struct buf req = {0};
    build_request(&req, file, prog_argv);
    send_frame(sock, &req, NULL, 0);
    free(req.p);
    size_t len;
    char *resp = recv_frame(sock, &len);
    close(sv[1]);
    char *reason;
    enum action act = parse_response(resp, len, &reason);
    free(resp);

    switch (act) {
    case ACT_RUN:
        close(sock);
        /* the handshake socket stays open (no CLOEXEC) for nested shells */
        execv(file, prog_argv);
        fail("cannot execute %s: %s", file, strerror(errno));
        break;
    case ACT_DENY:
        if (reason) {
            for (char *p = reason; *p; p++) /* no terminal control codes */
                if ((unsigned char)*p < 0x20 && *p != '\t')
                    *p = '?';
            fprintf(stderr, "Execution denied: %s\n", reason);
        } else {
            fputs("Execution denied\n", stderr);
        }
        return 1;
    case ACT_ESCALATE: {
        /* 3. hand over stdin/stdout/stderr (a closed one becomes /dev/null) */
        int fds[3], nfds = 0;
        struct buf msg = {0};
        puts_(&msg, "{\"fds\":[");
        for (int fd = 0; fd < 3; fd++) {
            int f = fcntl(fd, F_GETFD) >= 0 ? fd : open("/dev/null", O_RDWR | O_CLOEXEC);
            if (f < 0)
                continue;
            char num[2] = {(char)('0' + fd), '\0'};
            if (nfds)
                puts_(&msg, ",");
            puts_(&msg, num);
            fds[nfds++] = f;
        }
        puts_(&msg, "]}");
        send_frame(sock, &msg, fds, (size_t)nfds);
        free(msg.p);
        /* 4. wait for the escalated program's exit status */
        char *res = recv_frame(sock, &len);
        int code = parse_result(res, len);
        free(res);
        return code;
    }
    default:
        bad_json();
    }
    return 1;
}
