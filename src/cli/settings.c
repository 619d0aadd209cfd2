/*
 * settings.c - where `sift` finds its server, token and colour choice.
 *
 * Order (first wins): command-line flags, the environment (SIFT_URL,
 * SIFT_TOKEN, SIFT_CACERT, NO_COLOR), the configuration file.  The file
 * is --config, else $SIFT_CONFIG, else $XDG_CONFIG_HOME/sift/config, else
 * ~/.config/sift/config; only a file named explicitly must exist.
 *
 * File format: "key = value" lines, '#' or ';' comments (whole lines, or
 * after a blank at the end of a line), blank lines;
 * values may be quoted with "" (no escapes); a path may start with "~/".
 * Keys: url, token,
 * token_file, cacert, color, timeout, retries.  An unknown key is an
 * error naming the line and the closest key: a typo must not silently
 * drop a setting.  A file that holds a token and that others may read
 * earns a warning (as ssh does for keys).
 *
 * Invariants: after sift__cli_settings_load() succeeds, url is set and
 * has no trailing '/'.  Single-threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_int.h"

#define DEFAULT_TIMEOUT_S 300.0
#define DEFAULT_RETRIES 8
#define MAX_FILE_BYTES (1 << 20)

static const char *const KEYS[] = {"url",   "token",   "token_file", "cacert",
                                   "color", "timeout", "retries",    NULL};

static void
set_str(char **slot, const char *v, size_t len)
{
    if (*slot)
        return; /* an earlier source gave it */
    char *s = sift__cli_xrealloc(NULL, len + 1);
    memcpy(s, v, len);
    s[len] = '\0';
    *slot = s;
}

static int
parse_color(const char *v, enum cli_color *out)
{
    if (!strcmp(v, "auto"))
        *out = CLI_COLOR_AUTO;
    else if (!strcmp(v, "always"))
        *out = CLI_COLOR_ALWAYS;
    else if (!strcmp(v, "never"))
        *out = CLI_COLOR_NEVER;
    else
        return SIFT_EINVAL;
    return SIFT_OK;
}

/* Reads a whole (small) file; NULL with errno set on failure. */
static char *
read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct cli_buf b = CLI_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        sift__cli_buf_add(&b, chunk, n);
        if (b.len > MAX_FILE_BYTES) {
            fclose(f);
            sift__cli_buf_free(&b);
            errno = EFBIG;
            return NULL;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sift__cli_buf_free(&b);
        errno = EIO;
        return NULL;
    }
    if (!b.data)
        sift__cli_buf_add(&b, "", 0);
    if (len_out)
        *len_out = b.len;
    return b.data;
}

/* "~/x" -> "$HOME/x" for paths in the file (owned result). */
static char *
expand_home(const char *path)
{
    const char *home = getenv("HOME");
    struct cli_buf b = CLI_BUF_INIT;
    if (path[0] == '~' && path[1] == '/' && home && *home)
        sift__cli_buf_addf(&b, "%s%s", home, path + 1);
    else
        sift__cli_buf_add(&b, path, strlen(path));
    return b.data;
}

/* Reads a token from a file: the first line, blanks trimmed. */
static int
token_from_file(char **slot, const char *path, char *err, size_t err_len)
{
    if (*slot)
        return SIFT_OK;
    size_t len;
    char *t = read_file(path, &len);
    if (!t) {
        snprintf(err, err_len, "cannot read token file %s: %s", path,
                 strerror(errno));
        return SIFT_ECONFIG;
    }
    char *nl = strpbrk(t, "\r\n");
    if (nl)
        *nl = '\0';
    char *s = t;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (!n) {
        free(t);
        snprintf(err, err_len, "token file %s is empty", path);
        return SIFT_ECONFIG;
    }
    set_str(slot, s, n);
    free(t);
    return SIFT_OK;
}

static int
parse_num(const char *v, double max, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0) || d > max)
        return SIFT_EINVAL;
    *out = d;
    return SIFT_OK;
}

int
sift__cli_settings_parse(struct cli_settings *s, const char *name,
                         const char *text, char *err, size_t err_len)
{
    const char *p = text;
    for (unsigned line_no = 1; *p; line_no++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[4096];
        if (len >= sizeof(line)) {
            snprintf(err, err_len, "%s:%u: line too long", name, line_no);
            return SIFT_ECONFIG;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : p + len;
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';

        char *k = line;
        while (*k == ' ' || *k == '\t')
            k++;
        if (!*k || *k == '#' || *k == ';')
            continue;
        char *eq = strchr(k, '=');
        if (!eq) {
            snprintf(err, err_len, "%s:%u: expected 'key = value'", name,
                     line_no);
            return SIFT_ECONFIG;
        }
        char *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        /* An inline comment: '#' or ';' after a blank, outside quotes. */
        int quoted = 0;
        for (char *c = v; *c; c++) {
            if (*c == '"')
                quoted = !quoted;
            else if (!quoted && (*c == '#' || *c == ';') &&
                     (c == v || c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        }
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
            vl -= 2;
        }

        int rc = SIFT_OK;
        double d;
        enum cli_color c;
        if (!strcmp(k, "url")) {
            set_str(&s->url, v, vl);
        } else if (!strcmp(k, "token")) {
            set_str(&s->token, v, vl);
        } else if (!strcmp(k, "token_file")) {
            char *path = expand_home(v);
            rc = token_from_file(&s->token, path, err, err_len);
            free(path);
            if (rc < 0)
                return rc;
        } else if (!strcmp(k, "cacert")) {
            char *path = expand_home(v);
            set_str(&s->cacert, path, strlen(path));
            free(path);
        } else if (!strcmp(k, "color") || !strcmp(k, "colour")) {
            rc = parse_color(v, &c);
            if (rc == SIFT_OK && !s->color_set) {
                s->color = c;
                s->color_set = 1;
            }
        } else if (!strcmp(k, "timeout")) {
            rc = parse_num(v, 86400.0 * 365, &d);
            if (rc == SIFT_OK && s->timeout_s < 0)
                s->timeout_s = d;
        } else if (!strcmp(k, "retries")) {
            rc = parse_num(v, 1000, &d);
            if (rc == SIFT_OK && d != (double)(int)d)
                rc = SIFT_EINVAL;
            if (rc == SIFT_OK && s->retries < 0)
                s->retries = (int)d;
        } else {
            const char *hint = sift__cli_suggest(k, KEYS);
            snprintf(err, err_len,
                     "%s:%u: unknown key '%s'%s%s%s (keys: url, token, "
                     "token_file, cacert, color, timeout, retries)",
                     name, line_no, k, hint ? "; did you mean '" : "",
                     hint ? hint : "", hint ? "'?" : "");
            return SIFT_ECONFIG;
        }
        if (rc < 0) {
            snprintf(err, err_len, "%s:%u: invalid value for '%s': '%s'", name,
                     line_no, k, v);
            return SIFT_ECONFIG;
        }
    }
    return SIFT_OK;
}

/* The default file path, or NULL without a home directory. */
static char *
default_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    struct cli_buf b = CLI_BUF_INIT;
    if (xdg && *xdg == '/') {
        sift__cli_buf_addf(&b, "%s/sift/config", xdg);
        return b.data;
    }
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    sift__cli_buf_addf(&b, "%s/.config/sift/config", home);
    return b.data;
}

static int
load_file(struct cli_settings *s, const char *path, int must_exist, char *err,
          size_t err_len)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        if (errno == ENOENT && !must_exist)
            return SIFT_OK;
        snprintf(err, err_len, "cannot read configuration %s: %s", path,
                 strerror(errno));
        return SIFT_ECONFIG;
    }
    if (memchr(text, '\0', len)) {
        free(text);
        snprintf(err, err_len, "%s: not a text file", path);
        return SIFT_ECONFIG;
    }
    int had_token = s->token != NULL;
    int rc = sift__cli_settings_parse(s, path, text, err, err_len);
    free(text);
    if (rc < 0)
        return rc;
    s->config_path = sift__cli_xstrdup(path);
    struct stat st;
    if (!had_token && s->token && stat(path, &st) == 0 && (st.st_mode & 077)) {
        fprintf(stderr,
                "sift: warning: %s holds a token and others may read it "
                "(chmod 600 %s)\n",
                path, path);
    }
    return SIFT_OK;
}

int
sift__cli_settings_load(struct cli_settings *s, const struct cli_flags *f,
                        char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    s->timeout_s = -1;
    s->retries = -1;
    s->color = CLI_COLOR_AUTO;
    int rc;

    /* 1. flags */
    if (f->url)
        set_str(&s->url, f->url, strlen(f->url));
    if (f->token)
        set_str(&s->token, f->token, strlen(f->token));
    if (f->cacert)
        set_str(&s->cacert, f->cacert, strlen(f->cacert));
    if (f->color && parse_color(f->color, &s->color) == SIFT_OK)
        s->color_set = 1;
    if (f->timeout_s >= 0)
        s->timeout_s = f->timeout_s;
    if (f->retries >= 0)
        s->retries = f->retries;

    /* 2. environment */
    const char *e;
    if ((e = getenv("SIFT_URL")) && *e)
        set_str(&s->url, e, strlen(e));
    if ((e = getenv("SIFT_TOKEN")) && *e)
        set_str(&s->token, e, strlen(e));
    if ((e = getenv("SIFT_CACERT")) && *e)
        set_str(&s->cacert, e, strlen(e));
    if ((e = getenv("NO_COLOR")) && *e && !s->color_set) {
        s->color = CLI_COLOR_NEVER;
        s->color_set = 1;
    }

    /* 3. file */
    if (f->config) {
        rc = load_file(s, f->config, 1, err, err_len);
    } else if ((e = getenv("SIFT_CONFIG")) && *e) {
        rc = load_file(s, e, 1, err, err_len);
    } else {
        char *path = default_path();
        rc = path ? load_file(s, path, 0, err, err_len) : SIFT_OK;
        free(path);
    }
    if (rc < 0) {
        sift__cli_settings_cleanup(s);
        return rc;
    }

    /* 4. defaults */
    if (!s->url)
        set_str(&s->url, CLI_DEFAULT_URL, strlen(CLI_DEFAULT_URL));
    if (s->timeout_s < 0)
        s->timeout_s = DEFAULT_TIMEOUT_S;
    if (s->retries < 0)
        s->retries = DEFAULT_RETRIES;

    /* "host:port" alone means http://host:port, as curl reads it. */
    if (!strstr(s->url, "://")) {
        struct cli_buf b = CLI_BUF_INIT;
        sift__cli_buf_addf(&b, "http://%s", s->url);
        free(s->url);
        s->url = b.data;
    }
    if (strncmp(s->url, "http://", 7) != 0 &&
        strncmp(s->url, "https://", 8) != 0) {
        snprintf(err, err_len, "url '%s': only http:// and https:// work",
                 s->url);
        sift__cli_settings_cleanup(s);
        return SIFT_ECONFIG;
    }
    size_t n = strlen(s->url);
    while (n > 8 && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    return SIFT_OK;
}

void
sift__cli_settings_cleanup(struct cli_settings *s)
{
    free(s->url);
    free(s->token);
    free(s->cacert);
    free(s->config_path);
    memset(s, 0, sizeof(*s));
}
