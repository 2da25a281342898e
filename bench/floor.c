/* The floor: what the same requests cost through libcurl with nothing on
 * top. One easy handle, reused for every request (so the connection is kept
 * alive), the body appended to a growing buffer, no decoding.
 *
 *   floor get   <url> <n>              n GETs of one URL
 *   floor pages <url> <n> <pages>      n GETs of <url>?page_size=100[&page_token=p<k>],
 *                                      walking the tokens as the SDK does
 *   floor multi <url> <n> <conc>       n GETs through the multi interface,
 *                                      <conc> transfers in flight
 *
 * One untimed warm-up request opens the connection first (the Lua runs
 * fetch their token and open their connection before timing too).
 * Prints one line: "time=<wall s> cpu=<process CPU s> requests=<n> bytes=<body bytes>
 * hwm_kb=<VmHWM>", times of the timed loop only. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct buf {
  char *data;
  size_t len, cap;
} buf;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  buf *b = ud;
  size_t n = size * nmemb;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *d;
    while (cap < b->len + n) cap *= 2;
    d = realloc(b->data, cap);
    if (!d) return 0;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return n;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long vm_hwm_kb(void) {
  char line[256];
  long kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld", &kb) == 1) break;
  fclose(f);
  return kb;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "floor: %s: %s\n", what, why);
  exit(1);
}

/* The same request headers as the SDK sends (User-Agent aside). */
static struct curl_slist *headers(void) {
  struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
  h = curl_slist_append(
      h, "Authorization: Bearer tttttttttttttttttttttttttttttttttttttttt.bench.token");
  if (!h) die("headers", "out of memory");
  return h;
}

static CURL *new_easy(struct curl_slist *h, buf *b) {
  CURL *e = curl_easy_init();
  if (!e) die("curl_easy_init", "failed");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "bench-floor");
  return e;
}

static void check(CURL *e, CURLcode rc, const char *url) {
  long status = 0;
  if (rc != CURLE_OK) die(url, curl_easy_strerror(rc));
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    char msg[32];
    snprintf(msg, sizeof msg, "HTTP %ld", status);
    die(url, msg);
  }
}

static void page_url(char *out, size_t cap, const char *base, long k) {
  if (k == 0)
    snprintf(out, cap, "%s?page_size=100", base);
  else
    snprintf(out, cap, "%s?page_size=100&page_token=p%ld", base, k);
}

int main(int argc, char **argv) {
  const char *mode, *url;
  long n, extra = 0, i;
  size_t bytes = 0;
  double t0, t1, c0 = 0, c1 = 0;
  struct curl_slist *h;
  buf b = {0};

  if (argc < 4) {
    fprintf(stderr, "usage: floor get|pages|multi <url> <n> [pages|concurrency]\n");
    return 2;
  }
  mode = argv[1];
  url = argv[2];
  n = atol(argv[3]);
  if (argc > 4) extra = atol(argv[4]);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init", "failed");
  h = headers();

  if (strcmp(mode, "get") == 0 || strcmp(mode, "pages") == 0) {
    int pages = strcmp(mode, "pages") == 0;
    char u[2048];
    CURL *e = new_easy(h, &b);
    if (pages && extra < 1) die("pages", "need the page count");
    /* warm-up: connect */
    if (pages)
      page_url(u, sizeof u, url, 0);
    else
      snprintf(u, sizeof u, "%s", url);
    curl_easy_setopt(e, CURLOPT_URL, u);
    check(e, curl_easy_perform(e), u);
    c0 = cpu_now();
    t0 = now();
    for (i = 0; i < n; i++) {
      if (pages) {
        page_url(u, sizeof u, url, i % extra);
        curl_easy_setopt(e, CURLOPT_URL, u);
      }
      b.len = 0;
      check(e, curl_easy_perform(e), u);
      bytes += b.len;
    }
    t1 = now();
    c1 = cpu_now();
    curl_easy_cleanup(e);
  } else if (strcmp(mode, "multi") == 0) {
    long conc = extra > 0 ? extra : 32, started = 0, done = 0, k;
    CURLM *m = curl_multi_init();
    CURL **easy;
    buf *bufs;
    int running;
    if (conc > n) conc = n;
    easy = calloc((size_t)conc, sizeof *easy);
    bufs = calloc((size_t)conc, sizeof *bufs);
    if (!m || !easy || !bufs) die("multi", "out of memory");
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, conc);
    for (k = 0; k < conc; k++) {
      easy[k] = new_easy(h, &bufs[k]);
      curl_easy_setopt(easy[k], CURLOPT_URL, url);
      curl_easy_setopt(easy[k], CURLOPT_PRIVATE, (void *)&bufs[k]);
    }
    /* warm-up: one request per handle opens the connections */
    for (k = 0; k < conc; k++) curl_multi_add_handle(m, easy[k]);
    do {
      CURLMsg *msg;
      int q;
      curl_multi_perform(m, &running);
      while ((msg = curl_multi_info_read(m, &q)) != NULL)
        if (msg->msg == CURLMSG_DONE) {
          check(msg->easy_handle, msg->data.result, url);
          curl_multi_remove_handle(m, msg->easy_handle);
        }
      if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);

    c0 = cpu_now();
    t0 = now();
    for (k = 0; k < conc; k++) {
      bufs[k].len = 0;
      curl_multi_add_handle(m, easy[k]);
      started++;
    }
    while (done < n) {
      CURLMsg *msg;
      int q;
      curl_multi_perform(m, &running);
      while ((msg = curl_multi_info_read(m, &q)) != NULL) {
        buf *bp;
        CURL *e = msg->easy_handle;
        if (msg->msg != CURLMSG_DONE) continue;
        check(e, msg->data.result, url);
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&bp);
        bytes += bp->len;
        bp->len = 0;
        done++;
        curl_multi_remove_handle(m, e);
        if (started < n) {
          curl_multi_add_handle(m, e);
          started++;
        }
      }
      if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    t1 = now();
    c1 = cpu_now();
    for (k = 0; k < conc; k++) {
      curl_easy_cleanup(easy[k]);
      free(bufs[k].data);
    }
    curl_multi_cleanup(m);
    free(easy);
    free(bufs);
  } else {
    die(mode, "unknown mode");
  }
  printf("time=%.6f cpu=%.6f requests=%ld bytes=%zu hwm_kb=%ld\n", t1 - t0, c1 - c0, n, bytes,
         vm_hwm_kb());
  free(b.data);
  curl_slist_free_all(h);
  curl_global_cleanup();
  return 0;
}
