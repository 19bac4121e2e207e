/* Measuring only: null.c and group-commit.c without libfcgi (`raw null`, `raw group-commit`). It reads the
   FastCGI records itself from the listening socket spawn-fcgi passes as fd 0, answers with one write and closes
   at once: no lingering close, which libfcgi does and Verdict does not, and no copies between libfcgi's streams.
   Handles what nginx sends and nothing else (no FCGI_GET_VALUES, no kept connections, records up to 2 MiB). */
#include <sys/socket.h>
#include "common.h"

static int donull;

struct req { unsigned char *params; size_t plen; unsigned char *body; size_t blen; unsigned id; };

/* Reads records until the empty STDIN one (the end of the body); 0 on success. */
static int read_request(int c, unsigned char *buf, size_t cap, struct req *r) {
  size_t have = 0, pos = 0;
  r->plen = r->blen = 0;
  for (;;) {
    ssize_t n = read(c, buf + have, cap - have);
    if (n <= 0) return -1;
    have += n;
    while (have - pos >= 8) {
      unsigned char *h = buf + pos;
      size_t clen = (h[4] << 8) | h[5], plen = h[6];
      if (have - pos < 8 + clen + plen) break;
      r->id = (h[2] << 8) | h[3];
      if (h[1] == 4) { memcpy(r->params + r->plen, h + 8, clen); r->plen += clen; }
      if (h[1] == 5) {
        if (clen == 0) return 0;
        memcpy(r->body + r->blen, h + 8, clen); r->blen += clen;
      }
      pos += 8 + clen + plen;
    }
    if (pos == have) have = pos = 0;
    else if (have == cap) { memmove(buf, buf + pos, have - pos); have -= pos; pos = 0; }
  }
}
static const char *param(struct req *r, const char *name, size_t *vlen) {
  size_t i = 0, want = strlen(name);
  while (i < r->plen) {
    size_t nl = r->params[i], vl;
    if (nl & 0x80) { nl = ((nl & 0x7f) << 24) | (r->params[i+1] << 16) | (r->params[i+2] << 8) | r->params[i+3]; i += 4; } else i += 1;
    vl = r->params[i];
    if (vl & 0x80) { vl = ((vl & 0x7f) << 24) | (r->params[i+1] << 16) | (r->params[i+2] << 8) | r->params[i+3]; i += 4; } else i += 1;
    if (nl == want && memcmp(r->params + i, name, nl) == 0) { *vlen = vl; return (const char *)r->params + i + nl; }
    i += nl + vl;
  }
  return NULL;
}
static int verified(struct req *r) {
  size_t len;
  const char *stripe = param(r, "HTTP_STRIPE_SIGNATURE", &len);
  if (stripe) {
    char header[512];
    if (len >= sizeof header) return 0;
    memcpy(header, stripe, len);
    header[len] = 0;
    return stripe_verified(header, r->body, r->blen);
  }
  const char *veriff = param(r, "HTTP_X_HMAC_SIGNATURE", &len);
  return veriff && veriff_verified(veriff, len, r->body, r->blen);
}
static int record(unsigned char *p, int type, unsigned id, const char *data, int len) {
  int pad = (8 - len % 8) % 8;
  p[0] = 1; p[1] = type; p[2] = id >> 8; p[3] = id & 255; p[4] = len >> 8; p[5] = len & 255; p[6] = pad; p[7] = 0;
  memcpy(p + 8, data, len); memset(p + 8 + len, 0, pad);
  return 8 + len + pad;
}
static void answer(int c, unsigned id, const char *text) {
  unsigned char out[512]; char end[8] = {0};
  int n = record(out, 6, id, text, strlen(text));
  n += record(out + n, 6, id, "", 0);
  n += record(out + n, 3, id, end, 8);
  if (write(c, out, n) < 0) {}
}
static void *serve(void *arg) {
  (void)arg;
  size_t cap = 1 << 21;
  unsigned char *buf = malloc(cap);
  struct req r = { malloc(cap), 0, malloc(cap), 0, 1 };
  for (;;) {
    int c = accept(0, NULL, NULL);
    if (c < 0) continue;
    if (read_request(c, buf, cap, &r) != 0) { close(c); continue; }
    if (donull) { answer(c, r.id, "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}\n"); close(c); continue; }
    if (!verified(&r)) {
      answer(c, r.id, "Status: 401 Unauthorized\r\nContent-Type: application/json\r\n\r\n{\"error\":\"signature\"}\n");
      close(c);
      continue;
    }
    append_line(r.blen);
    answer(c, r.id, "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}\n");
    close(c);
  }
  return NULL;
}
int main(int argc, char **argv) {
  donull = argc > 1 && strcmp(argv[1], "null") == 0;
  int threads = setup("raw");
  pthread_t t[64];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, serve, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  return 0;
}
