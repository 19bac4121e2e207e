/* Measuring only: null.c and group-commit.c without libfcgi (`raw null`, `raw group-commit`). It reads the
   FastCGI records itself from the listening socket spawn-fcgi passes as fd 0, answers with one write and closes
   at once: no lingering close, which libfcgi does and Verdict does not, and no copies between libfcgi's streams.
   Handles what nginx sends and nothing else (no FCGI_GET_VALUES, no kept connections, records up to 2 MiB). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

static int fd, dosync, donull;
static const char *secret;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned long written, synced;
static int syncing;

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
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
static int hex_matches(const char *hex, size_t hexlen, const unsigned char *mac) {
  unsigned char want[32];
  if (hexlen != 64) return 0;
  for (int i = 0; i < 32; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return 0;
    want[i] = (unsigned char)(hi << 4 | lo);
  }
  return CRYPTO_memcmp(want, mac, 32) == 0;
}
static int verified(struct req *r) {
  unsigned char mac[32]; unsigned int maclen; size_t len;
  const char *stripe = param(r, "HTTP_STRIPE_SIGNATURE", &len);
  if (stripe) {
    char s[512]; if (len >= sizeof s) return 0; memcpy(s, stripe, len); s[len] = 0;
    const char *t = strstr(s, "t="), *v1 = strstr(s, "v1=");
    if (!t || !v1) return 0;
    t += 2; v1 += 3;
    size_t tlen = strcspn(t, ","), v1len = strcspn(v1, ",");
    HMAC_CTX *ctx = HMAC_CTX_new();
    HMAC_Init_ex(ctx, secret, (int)strlen(secret), EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)t, tlen);
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, r->body, r->blen);
    HMAC_Final(ctx, mac, &maclen);
    HMAC_CTX_free(ctx);
    return hex_matches(v1, v1len, mac);
  }
  const char *veriff = param(r, "HTTP_X_HMAC_SIGNATURE", &len);
  if (!veriff) return 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), r->body, r->blen, mac, &maclen);
  return hex_matches(veriff, len, mac);
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
    char line[128];
    int len = snprintf(line, sizeof line, "{\"accepted\":true,\"bytes\":%zu}\n", r.blen);
    pthread_mutex_lock(&mu);
    if (write(fd, line, len) != len) abort();
    unsigned long mine = ++written;
    if (dosync) {
      while (synced < mine) {
        if (!syncing) {
          syncing = 1;
          unsigned long upto = written;
          pthread_mutex_unlock(&mu);
          fdatasync(fd);
          pthread_mutex_lock(&mu);
          syncing = 0;
          synced = upto;
          pthread_cond_broadcast(&cv);
        } else {
          pthread_cond_wait(&cv, &mu);
        }
      }
    }
    pthread_mutex_unlock(&mu);
    answer(c, r.id, "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}\n");
    close(c);
  }
  return NULL;
}
int main(int argc, char **argv) {
  donull = argc > 1 && strcmp(argv[1], "null") == 0;
  secret = getenv("SECRET") ? getenv("SECRET") : "whsec_test";
  const char *dir = getenv("LOGDIR") ? getenv("LOGDIR") : ".";
  dosync = getenv("FSYNC") && *getenv("FSYNC");
  int threads = getenv("THREADS") ? atoi(getenv("THREADS")) : 4;
  char path[4096];
  snprintf(path, sizeof path, "%s/raw-%d.jsonl", dir, (int)getpid());
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) { perror(path); return 1; }
  pthread_t t[64];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, serve, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  return 0;
}
