/*
 * render.c - what `sift` prints for people: hit lines, tables, bars.
 *
 * Design: stdout is either for people (a terminal: colours when allowed,
 * bars, aligned columns) or for programs (--json NDJSON, --raw, --fields
 * TSV); the choice is per subcommand, the helpers are here.  Colours
 * follow --color: auto means only when stdout is a terminal, NO_COLOR is
 * unset and TERM is not "dumb".
 *
 * Invariants: text that came from logs is written through
 * sift__cli_put_safe() in every human format, so an escape sequence in a
 * log line is shown as \x1b, never executed by the terminal; bytes that
 * are not valid UTF-8 are shown the same way.  Single-threaded.
 */
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli_int.h"

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_BRED "\033[1;31m"
#define C_YELLOW "\033[33m"
#define C_GREEN "\033[32m"
#define C_BLUE "\033[34m"
#define C_CYAN "\033[36m"

void
sift__cli_out_init(struct cli_out *o, enum cli_color color)
{
    memset(o, 0, sizeof(*o));
    o->f = stdout;
    int tty = isatty(STDOUT_FILENO);
    const char *term = getenv("TERM");
    if (color == CLI_COLOR_ALWAYS)
        o->color = 1;
    else if (color == CLI_COLOR_AUTO)
        o->color = tty && !(term && !strcmp(term, "dumb"));
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    o->utf8 = cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
    o->columns = 80;
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        o->columns = ws.ws_col;
    else if (cols && strtol(cols, NULL, 10) > 0)
        o->columns = (int)strtol(cols, NULL, 10);
    if (o->columns < 40)
        o->columns = 40;
    if (o->columns > 400)
        o->columns = 400;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t
utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* C1 controls (U+0080..U+009F) act on some terminals: escape them. */
    if (cp >= 0x80 && cp <= 0x9f)
        return 0;
    return n;
}

void
sift__cli_put_safe(FILE *f, const char *s, size_t len, const char *indent)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == '\n') {
            if (indent) {
                fputc('\n', f);
                fputs(indent, f);
            } else {
                fputs("\\n", f);
            }
            i++;
            continue;
        }
        if (c == '\t') {
            fputc(indent ? '\t' : ' ', f);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\x%02x", c);
            i++;
            continue;
        }
        size_t n = utf8_len(p + i, len - i);
        if (!n) {
            fprintf(f, "\\x%02x", c);
            i++;
            continue;
        }
        fwrite(p + i, 1, n, f);
        i += n;
    }
}

void
sift__cli_put_tsv(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\\': fputs("\\\\", f); break;
        default: fputc(s[i], f);
        }
    }
}

void
sift__cli_time_short(const char *t, char *out, size_t out_len)
{
    /* "2026-11-22T10:00:02.000000000Z" -> "2026-11-22T10:00:02.000Z" */
    size_t n = t ? strlen(t) : 0;
    if (n >= 24 && n <= 40 && t[10] == 'T' && t[19] == '.' && t[n - 1] == 'Z') {
        snprintf(out, out_len, "%.23sZ", t);
        return;
    }
    snprintf(out, out_len, "%s", t ? t : "-");
}

/* A field of a hit as text: strings as they are, other values as JSON. */
static const char *
field_text(json_t *v, char *tmp, size_t tmp_len, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (!v || json_is_null(v)) {
        *len = 0;
        return "";
    }
    if (json_is_real(v)) {
        sift__cli_real(tmp, tmp_len, json_real_value(v));
        *len = strlen(tmp);
        return tmp;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(tmp, tmp_len, "%s", s ? s : "");
    free(s);
    *len = strlen(tmp);
    return tmp;
}

static json_t *
hit_field(json_t *hit, const char *a, const char *b)
{
    json_t *fields = json_object_get(hit, "fields");
    json_t *v = json_object_get(fields, a);
    if (!v && b)
        v = json_object_get(fields, b);
    return v;
}

static const char *
level_color(const char *lvl)
{
    if (!strncasecmp(lvl, "fatal", 5) || !strncasecmp(lvl, "crit", 4) ||
        !strncasecmp(lvl, "emerg", 5) || !strncasecmp(lvl, "alert", 5) ||
        !strcasecmp(lvl, "panic"))
        return C_BRED;
    if (!strncasecmp(lvl, "err", 3))
        return C_RED;
    if (!strncasecmp(lvl, "warn", 4))
        return C_YELLOW;
    if (!strncasecmp(lvl, "info", 4) || !strcasecmp(lvl, "notice"))
        return C_GREEN;
    if (!strncasecmp(lvl, "debug", 5) || !strncasecmp(lvl, "trace", 5))
        return C_BLUE;
    return "";
}

void
sift__cli_hit_human(struct cli_out *o, json_t *hit)
{
    FILE *f = o->f;
    char t[48], tmp[256];
    size_t len;
    sift__cli_time_short(json_string_value(json_object_get(hit, "time")), t,
                         sizeof(t));
    fprintf(f, "%s%s%s ", o->color ? C_DIM : "", t, o->color ? C_RESET : "");

    json_t *lv = hit_field(hit, "log.level", "level");
    if (lv) {
        const char *s = field_text(lv, tmp, sizeof(tmp), &len);
        char up[16];
        size_t n = len < sizeof(up) - 1 ? len : sizeof(up) - 1;
        for (size_t i = 0; i < n; i++)
            up[i] = (char)((s[i] >= 'a' && s[i] <= 'z') ? s[i] - 32 : s[i]);
        up[n] = '\0';
        const char *c = o->color ? level_color(up) : "";
        fputs(c, f);
        sift__cli_put_safe(f, up, n, NULL);
        if (*c)
            fputs(C_RESET, f);
        for (size_t i = n; i < 5; i++)
            fputc(' ', f);
        fputc(' ', f);
    }
    json_t *sv = hit_field(hit, "service.name", "service");
    if (sv) {
        const char *s = field_text(sv, tmp, sizeof(tmp), &len);
        fputs(o->color ? C_CYAN : "", f);
        sift__cli_put_safe(f, s, len, NULL);
        fputs(o->color ? C_RESET : "", f);
        fputc(' ', f);
    }
    json_t *m = json_object_get(hit, "message");
    if (json_is_string(m))
        sift__cli_put_safe(f, json_string_value(m), json_string_length(m),
                           "    ");
    fputc('\n', f);
}

void
sift__cli_hit_raw(struct cli_out *o, json_t *hit)
{
    json_t *m = json_object_get(hit, "message");
    if (json_is_string(m))
        fwrite(json_string_value(m), 1, json_string_length(m), o->f);
    fputc('\n', o->f);
}

void
sift__cli_hit_tsv(struct cli_out *o, json_t *hit, const char *const *names)
{
    char tmp[1024];
    for (size_t i = 0; names[i]; i++) {
        if (i)
            fputc('\t', o->f);
        const char *n = names[i];
        json_t *v;
        if (!strcmp(n, "time") || !strcmp(n, "ts_ms") ||
            !strcmp(n, "message") || !strcmp(n, "template") ||
            !strcmp(n, "template_id"))
            v = json_object_get(hit, n);
        else
            v = hit_field(hit, n, NULL);
        size_t len;
        const char *s = field_text(v, tmp, sizeof(tmp), &len);
        sift__cli_put_tsv(o->f, s, len);
    }
    fputc('\n', o->f);
}

void
sift__cli_json_line(FILE *f, json_t *v)
{
    (void)json_dumpf(v, f, JSON_COMPACT | JSON_ENCODE_ANY);
    fputc('\n', f);
}

void
sift__cli_bar(char *out, size_t out_len, uint64_t value, uint64_t max,
              int width, int utf8)
{
    static const char *const eighths[] = {"",       "\u258f", "\u258e",
                                          "\u258d", "\u258c", "\u258b",
                                          "\u258a", "\u2589"};
    size_t pos = 0;
    if (!out_len)
        return;
    out[0] = '\0';
    if (!max || width <= 0)
        return;
    uint64_t cells8 =
        (uint64_t)((double)value / (double)max * (double)width * 8.0 + 0.5);
    if (value && !cells8)
        cells8 = 1; /* anything non-zero shows */
    uint64_t full = cells8 / 8, part = cells8 % 8;
    for (uint64_t i = 0; i < full; i++) {
        const char *b = utf8 ? "\u2588" : "#";
        size_t bl = strlen(b);
        if (pos + bl >= out_len)
            break;
        memcpy(out + pos, b, bl);
        pos += bl;
    }
    if (utf8 && part) {
        size_t bl = strlen(eighths[part]);
        if (pos + bl < out_len) {
            memcpy(out + pos, eighths[part], bl);
            pos += bl;
        }
    } else if (!utf8 && !full && part && pos + 1 < out_len) {
        out[pos++] = '#';
    }
    out[pos] = '\0';
}

void
sift__cli_bytes(char *out, size_t out_len, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, out_len, "%.0f B", bytes);
    else
        snprintf(out, out_len, "%.1f %s", bytes, units[u]);
}
