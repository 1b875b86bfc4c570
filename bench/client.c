/* sl-bench-client: a small HTTP/1.1 load client that timestamps every response and, for SSE
 * streams, every event. It measures what wrk cannot: time to first event (TTFT) and the gap
 * between consecutive events of a stream. It also drives `make bench-micro`, where a fixed
 * number of requests must go through one keep-alive connection.
 *
 *   sl-bench-client --port PORT --path /v1/chat/completions --body FILE [--host 127.0.0.1]
 *       [--header 'Name: value']... [--concurrency C] (--requests N | --duration SECS)
 *
 * Each of the C connections sends the request, reads the whole response (Content-Length or
 * chunked), and sends the next one on the same connection. An event is counted when its blank
 * line arrives; its time is the moment the read that completed it returned. Prints one JSON
 * object on stdout: counts, and p50/p90/p99/p99.9/max/mean of request latency, TTFT and
 * inter-event gap, in microseconds. Exit status 0 unless the arguments are bad. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define RBUF      65536

struct samples {
    double *v;
    size_t n, cap;
};

static void samples_add(struct samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (s->v == NULL)
            abort();
    }
    s->v[s->n++] = x;
}

enum body_mode { BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };
enum chunk_state { CH_SIZE, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER };

struct conn {
    int fd;
    bool busy;      /* a request is in flight */
    size_t sent;    /* bytes of the request written */
    bool head_done; /* response head parsed */
    char hbuf[16384];
    size_t hlen;
    int status;
    bool keepalive;
    enum body_mode mode;
    uint64_t remaining; /* BODY_LENGTH: bytes left; chunked: bytes left in this chunk */
    enum chunk_state cs;
    uint64_t chunk_size;
    int trailer_nl; /* consecutive line ends seen in the trailer */
    bool prev_nl;   /* SSE: last byte of the decoded body ended a line */
    double t_start, t_last_event;
    long events;
};

static struct {
    const char *host;
    int port;
    const char *path;
    char *req;
    size_t req_len;
    int conc;
    long requests;
    double duration;
    long started, done, ok, errors, status_errors, events;
    struct samples lat, ttft, gap;
    struct sockaddr_in addr;
    int ep;
} g = {.host = "127.0.0.1", .conc = 1};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(2);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int conn_open(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) == -1 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd != -1) {
        epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
}

static bool may_start(double deadline)
{
    if (g.requests > 0)
        return g.started < g.requests;
    return now_us() < deadline;
}

static void start_request(struct conn *c)
{
    c->busy = true;
    c->sent = 0;
    c->head_done = false;
    c->hlen = 0;
    c->status = 0;
    c->events = 0;
    c->prev_nl = false;
    c->t_start = now_us();
    g.started++;
}

static int try_send(struct conn *c)
{
    while (c->sent < g.req_len) {
        ssize_t n = write(c->fd, g.req + c->sent, g.req_len - c->sent);
        if (n == -1)
            return errno == EAGAIN || errno == ENOTCONN ? 0 : -1;
        c->sent += (size_t)n;
    }
    return 0;
}

static void on_event_end(struct conn *c, double t)
{
    if (c->events == 0)
        samples_add(&g.ttft, t - c->t_start);
    else
        samples_add(&g.gap, t - c->t_last_event);
    c->t_last_event = t;
    c->events++;
    g.events++;
}

/* Feeds decoded body bytes to the SSE event counter. */
static void scan_sse(struct conn *c, const char *p, size_t n, double t)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\r')
            continue;
        if (ch == '\n') {
            if (c->prev_nl) {
                on_event_end(c, t);
                c->prev_nl = false;
            } else {
                c->prev_nl = true;
            }
        } else {
            c->prev_nl = false;
        }
    }
}

static int parse_head(struct conn *c)
{
    char *end = memmem(c->hbuf, c->hlen, "\r\n\r\n", 4);
    if (end == NULL)
        return c->hlen >= sizeof(c->hbuf) ? -1 : 0;
    size_t head_len = (size_t)(end - c->hbuf) + 4;
    if (c->hlen < 12 || memcmp(c->hbuf, "HTTP/1.", 7) != 0)
        return -1;
    c->status = atoi(c->hbuf + 9);
    c->keepalive = c->hbuf[7] == '1';
    c->mode = BODY_CLOSE;
    for (char *line = strstr(c->hbuf, "\r\n") + 2; line < end;) {
        char *eol = strstr(line, "\r\n");
        *eol = '\0';
        if (strncasecmp(line, "content-length:", 15) == 0) {
            c->mode = BODY_LENGTH;
            c->remaining = strtoull(line + 15, NULL, 10);
        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strstr(line, "chunked")) {
            c->mode = BODY_CHUNKED;
            c->cs = CH_SIZE;
            c->chunk_size = 0;
        } else if (strncasecmp(line, "connection:", 11) == 0 && strcasestr(line, "close")) {
            c->keepalive = false;
        }
        line = eol + 2;
    }
    c->head_done = true;
    return (int)head_len;
}

/* Decodes chunked framing. Returns 1 when the body is complete, 0 for more, -1 on error. */
static int feed_chunked(struct conn *c, const char *p, size_t n, double t)
{
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        switch (c->cs) {
        case CH_SIZE:
            i++;
            if (ch >= '0' && ch <= '9')
                c->chunk_size = c->chunk_size * 16 + (uint64_t)(ch - '0');
            else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
                c->chunk_size = c->chunk_size * 16 + (uint64_t)((ch | 0x20) - 'a' + 10);
            else if (ch == '\r')
                c->cs = CH_SIZE_LF;
            else if (ch != ';' && ch != ' ')
                return -1;
            break;
        case CH_SIZE_LF:
            i++;
            if (ch != '\n')
                return -1;
            if (c->chunk_size == 0) {
                c->cs = CH_TRAILER;
                c->trailer_nl = 1;
            } else {
                c->cs = CH_DATA;
                c->remaining = c->chunk_size;
            }
            break;
        case CH_DATA: {
            size_t take = n - i < c->remaining ? n - i : (size_t)c->remaining;
            scan_sse(c, p + i, take, t);
            i += take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->cs = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            i++;
            if (ch != '\r')
                return -1;
            c->cs = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            i++;
            if (ch != '\n')
                return -1;
            c->cs = CH_SIZE;
            c->chunk_size = 0;
            break;
        case CH_TRAILER:
            i++;
            if (ch == '\n') {
                if (c->trailer_nl)
                    return i == n ? 1 : -1;
                c->trailer_nl = 1;
            } else if (ch != '\r') {
                c->trailer_nl = 0;
            }
            break;
        }
    }
    return 0;
}

static void finish(struct conn *c, bool ok)
{
    g.done++;
    if (ok && c->status == 200) {
        g.ok++;
        samples_add(&g.lat, now_us() - c->t_start);
    } else if (ok) {
        g.status_errors++;
    } else {
        g.errors++;
    }
    c->busy = false;
}

/* Returns false when the connection must be closed. */
static bool on_readable(struct conn *c)
{
    char buf[RBUF];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n == 0) {
            if (c->busy && c->head_done && c->mode == BODY_CLOSE) {
                finish(c, true);
                return false;
            }
            if (c->busy)
                finish(c, false);
            return false;
        }
        if (n == -1) {
            if (errno == EAGAIN)
                return true;
            if (c->busy)
                finish(c, false);
            return false;
        }
        double t = now_us();
        if (!c->busy)
            return false; /* bytes nobody asked for */
        const char *p = buf;
        size_t len = (size_t)n;
        if (!c->head_done) {
            size_t take = len < sizeof(c->hbuf) - 1 - c->hlen ? len : sizeof(c->hbuf) - 1 - c->hlen;
            memcpy(c->hbuf + c->hlen, p, take);
            c->hlen += take;
            c->hbuf[c->hlen] = '\0';
            int h = parse_head(c);
            if (h < 0) {
                finish(c, false);
                return false;
            }
            if (h == 0)
                continue;
            size_t body_in_buf = c->hlen - (size_t)h;
            p = p + take - body_in_buf;
            len = body_in_buf + (len - take);
        }
        int rc = 0;
        if (c->mode == BODY_LENGTH) {
            size_t take = len < c->remaining ? len : (size_t)c->remaining;
            scan_sse(c, p, take, t);
            c->remaining -= take;
            rc = c->remaining == 0 ? 1 : 0;
        } else if (c->mode == BODY_CHUNKED) {
            rc = feed_chunked(c, p, len, t);
        } else {
            scan_sse(c, p, len, t);
        }
        if (rc < 0) {
            finish(c, false);
            return false;
        }
        if (rc == 1) {
            finish(c, true);
            return c->keepalive;
        }
    }
}

static double pct(struct samples *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_dist(const char *name, struct samples *s, bool comma)
{
    double sum = 0;
    qsort(s->v, s->n, sizeof(double), cmp_double);
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    printf("\"%s\":{\"n\":%zu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,"
           "\"mean\":%.1f}%s",
           name, s->n, pct(s, 50), pct(s, 90), pct(s, 99), pct(s, 99.9),
           s->n ? s->v[s->n - 1] : 0.0, s->n ? sum / (double)s->n : 0.0, comma ? "," : "");
}

static void usage(void)
{
    fprintf(stderr, "usage: sl-bench-client --port PORT --path PATH --body FILE [--host IP] "
                    "[--header 'N: v']... [--concurrency C] (--requests N | --duration S)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *body_file = NULL;
    char headers[8192] = "";
    size_t hl = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--host") == 0)
            g.host = v;
        else if (strcmp(a, "--port") == 0)
            g.port = atoi(v);
        else if (strcmp(a, "--path") == 0)
            g.path = v;
        else if (strcmp(a, "--body") == 0)
            body_file = v;
        else if (strcmp(a, "--header") == 0)
            hl += (size_t)snprintf(headers + hl, sizeof(headers) - hl, "%s\r\n", v);
        else if (strcmp(a, "--concurrency") == 0)
            g.conc = atoi(v);
        else if (strcmp(a, "--requests") == 0)
            g.requests = atol(v);
        else if (strcmp(a, "--duration") == 0)
            g.duration = atof(v);
        else
            usage();
        if (hl >= sizeof(headers))
            usage();
    }
    if (g.port <= 0 || g.path == NULL || body_file == NULL || g.conc < 1 || g.conc > MAX_CONNS ||
        (g.requests <= 0 && g.duration <= 0))
        usage();
    size_t blen;
    char *body = read_file(body_file, &blen);
    size_t cap = blen + hl + 1024;
    g.req = malloc(cap);
    int n = snprintf(g.req, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     g.path, g.host, g.port, blen, headers);
    memcpy(g.req + n, body, blen);
    g.req_len = (size_t)n + blen;
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)g.port);
    if (inet_pton(AF_INET, g.host, &g.addr.sin_addr) != 1)
        usage();

    g.ep = epoll_create1(EPOLL_CLOEXEC);
    static struct conn conns[MAX_CONNS];
    double t0 = now_us(), deadline = t0 + g.duration * 1e6, hard_stop = deadline + 30e6;
    for (int i = 0; i < g.conc; i++)
        conns[i].fd = -1;
    for (;;) {
        bool any_busy = false;
        for (int i = 0; i < g.conc; i++) {
            struct conn *c = &conns[i];
            if (!c->busy && may_start(deadline)) {
                if (c->fd == -1 && conn_open(c) == -1) {
                    g.errors++;
                    continue;
                }
                start_request(c);
                if (try_send(c) == -1) {
                    finish(c, false);
                    conn_close(c);
                }
            }
            any_busy |= c->busy;
        }
        if (!any_busy || (g.requests <= 0 && now_us() > hard_stop))
            break;
        struct epoll_event evs[64];
        int k = epoll_wait(g.ep, evs, 64, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd == -1)
                continue;
            if ((evs[i].events & EPOLLOUT) && c->busy && try_send(c) == -1) {
                finish(c, false);
                conn_close(c);
                continue;
            }
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !on_readable(c))
                conn_close(c);
        }
    }
    double elapsed = (now_us() - t0) / 1e6;
    printf("{\"requests\":%ld,\"ok\":%ld,\"errors\":%ld,\"status_errors\":%ld,\"events\":%ld,"
           "\"elapsed_s\":%.3f,\"rps\":%.1f,",
           g.done, g.ok, g.errors, g.status_errors, g.events, elapsed,
           elapsed > 0 ? (double)g.ok / elapsed : 0.0);
    print_dist("latency_us", &g.lat, true);
    print_dist("ttft_us", &g.ttft, true);
    print_dist("gap_us", &g.gap, false);
    printf("}\n");
    return 0;
}
