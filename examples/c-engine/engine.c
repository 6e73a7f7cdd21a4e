/*
 * c-engine: a reference engine for adverify's subprocess protocol (docs/protocol.md), in one
 * C file (C11, libc + libm only).
 *
 *   cc -O2 -std=c11 -Wall -Wextra -o engine examples/c-engine/engine.c -lm
 *   adverify campaign --engine 'cmd:./engine' --examples 2000 --seed 0
 *   adverify campaign --engine 'cmd:./engine --bug sigmoid'      # a planted wrong backward rule
 *
 * It reads one JSON request per line on standard input and writes one JSON answer per line
 * on standard output. `gradients` is real reverse-mode automatic differentiation over the
 * expression DAG: every node is evaluated once, in order (a node used by several nodes is
 * one value); the backward pass walks the nodes in reverse order and accumulates each
 * node's adjoint with +=, so the derivative flows along every path into a shared node.
 * Diagnostics go to standard error only.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTOCOL 1
#define ENGINE_NAME "c-engine"

/* ─────────────────────────────── growing output buffer ─────────────────────────────── */

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void die_oom(void) {
    fprintf(stderr, "c-engine: out of memory\n");
    exit(3);
}

static void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) die_oom();
    b->data = p;
    b->cap = cap;
}

static void buf_add(Buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A JSON string literal, escaped. */
static void buf_json_string(Buf *b, const char *s, size_t n) {
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') buf_add(b, "\\\"", 2);
        else if (c == '\\') buf_add(b, "\\\\", 2);
        else if (c == '\n') buf_add(b, "\\n", 2);
        else if (c == '\r') buf_add(b, "\\r", 2);
        else if (c == '\t') buf_add(b, "\\t", 2);
        else if (c < 0x20) buf_printf(b, "\\u%04x", c);
        else buf_add(b, (const char *)&c, 1);
    }
    buf_add(b, "\"", 1);
}

/* A double, exactly: the shortest of %.15g/%.16g/%.17g that reads back as the same bits;
 * the strings "nan", "inf", "-inf" for the non-finite. */
static void buf_number(Buf *b, double x) {
    if (isnan(x)) { buf_puts(b, "\"nan\""); return; }
    if (isinf(x)) { buf_puts(b, x > 0 ? "\"inf\"" : "\"-inf\""); return; }
    if (x == 0) { buf_puts(b, signbit(x) ? "-0.0" : "0"); return; }   /* "-0" would read as integer 0 */
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        if (prec == 17 || strtod(tmp, NULL) == x) break;
    }
    buf_puts(b, tmp);
}

/* ───────────────────────────────────── JSON parser ───────────────────────────────────── */

typedef enum { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } JType;

typedef struct Json Json;
struct Json {
    JType type;
    double num;          /* J_NUMBER */
    int is_integer;      /* J_NUMBER: written without fraction or exponent */
    char *str;           /* J_STRING (NUL-terminated; may hold NULs, see len) */
    size_t len;          /* J_STRING length; J_ARRAY / J_OBJECT member count */
    Json **items;        /* J_ARRAY items; J_OBJECT values */
    char **keys;         /* J_OBJECT keys */
    size_t *key_lens;
    const char *start;   /* the value's text in the line */
    size_t text_len;
};

typedef struct {
    const char *p, *end;
    const char *error;   /* first error, or NULL */
    int depth;
} Parser;

#define MAX_DEPTH 512     /* nesting, not size: the protocol's messages nest a few levels */

static void json_free(Json *j) {
    if (!j) return;
    if (j->type == J_ARRAY || j->type == J_OBJECT) {
        for (size_t i = 0; i < j->len; i++) {
            json_free(j->items[i]);
            if (j->type == J_OBJECT) free(j->keys[i]);
        }
        free(j->items);
        free(j->keys);
        free(j->key_lens);
    }
    free(j->str);
    free(j);
}

static void skip_ws(Parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static Json *fail(Parser *ps, const char *msg) {
    if (!ps->error) ps->error = msg;
    return NULL;
}

static void utf8_put(Buf *b, unsigned long cp) {
    char out[4];
    size_t n;
    if (cp < 0x80) { out[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    buf_add(b, out, n);
}

static int hex4(const char *p, const char *end, unsigned long *out) {
    if (end - p < 4) return 0;
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned long)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Parses a string starting at the opening quote into a malloc'd buffer. */
static char *parse_string_raw(Parser *ps, size_t *len_out) {
    Buf b = {0};
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end) { free(b.data); fail(ps, "unterminated string"); return NULL; }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') { ps->p++; break; }
        if (c < 0x20) { free(b.data); fail(ps, "raw control character in a string"); return NULL; }
        if (c != '\\') {
            const char *s = ps->p;
            while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20) ps->p++;
            buf_add(&b, s, (size_t)(ps->p - s));
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) { free(b.data); fail(ps, "unterminated escape"); return NULL; }
        char e = *ps->p++;
        switch (e) {
        case '"': buf_add(&b, "\"", 1); break;
        case '\\': buf_add(&b, "\\", 1); break;
        case '/': buf_add(&b, "/", 1); break;
        case 'b': buf_add(&b, "\b", 1); break;
        case 'f': buf_add(&b, "\f", 1); break;
        case 'n': buf_add(&b, "\n", 1); break;
        case 'r': buf_add(&b, "\r", 1); break;
        case 't': buf_add(&b, "\t", 1); break;
        case 'u': {
            unsigned long cp;
            if (!hex4(ps->p, ps->end, &cp)) { free(b.data); fail(ps, "bad \\u escape"); return NULL; }
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned long lo;
                if (hex4(ps->p + 2, ps->end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    ps->p += 6;
                }
            }
            utf8_put(&b, cp);   /* a lone surrogate is kept as its (WTF-8) bytes */
            break;
        }
        default: free(b.data); fail(ps, "bad escape in a string"); return NULL;
        }
    }
    if (!b.data) { b.data = malloc(1); if (!b.data) die_oom(); b.data[0] = '\0'; }
    *len_out = b.len;
    return b.data;
}

static Json *new_json(JType t, const char *start) {
    Json *j = calloc(1, sizeof *j);
    if (!j) die_oom();
    j->type = t;
    j->start = start;
    return j;
}

static Json *parse_value(Parser *ps);

static Json *parse_number(Parser *ps) {
    const char *s = ps->p, *q = s;
    int integer = 1;
    if (q < ps->end && *q == '-') q++;
    if (q >= ps->end) return fail(ps, "bad number");
    if (*q == '0') q++;
    else if (*q >= '1' && *q <= '9') while (q < ps->end && *q >= '0' && *q <= '9') q++;
    else return fail(ps, "bad number");
    if (q < ps->end && *q == '.') {
        integer = 0;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') return fail(ps, "bad number");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = 0;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || *q < '0' || *q > '9') return fail(ps, "bad number");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    /* strtod needs a terminated copy: the line is NUL-terminated, but be explicit. */
    size_t n = (size_t)(q - s);
    char small[64];
    char *text = n < sizeof small ? small : malloc(n + 1);
    if (!text) die_oom();
    memcpy(text, s, n);
    text[n] = '\0';
    errno = 0;
    double v = strtod(text, NULL);   /* correctly rounded (glibc, musl, BSDs) */
    if (text != small) free(text);
    Json *j = new_json(J_NUMBER, s);
    j->num = v;
    j->is_integer = integer;
    ps->p = q;
    return j;
}

static Json *parse_array(Parser *ps) {
    Json *j = new_json(J_ARRAY, ps->p);
    size_t cap = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') { ps->p++; return j; }
    for (;;) {
        Json *v = parse_value(ps);
        if (!v) { json_free(j); return NULL; }
        if (j->len == cap) {
            cap = cap ? 2 * cap : 8;
            Json **items = realloc(j->items, cap * sizeof *items);
            if (!items) die_oom();
            j->items = items;
        }
        j->items[j->len++] = v;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == ']') { ps->p++; return j; }
        json_free(j);
        return fail(ps, "expected ',' or ']' in an array");
    }
}

static Json *parse_object(Parser *ps) {
    Json *j = new_json(J_OBJECT, ps->p);
    size_t cap = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') { ps->p++; return j; }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') { json_free(j); return fail(ps, "expected a key string in an object"); }
        size_t klen;
        char *key = parse_string_raw(ps, &klen);
        if (!key) { json_free(j); return NULL; }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') { free(key); json_free(j); return fail(ps, "expected ':' in an object"); }
        ps->p++;
        Json *v = parse_value(ps);
        if (!v) { free(key); json_free(j); return NULL; }
        if (j->len == cap) {
            cap = cap ? 2 * cap : 8;
            Json **items = realloc(j->items, cap * sizeof *items);
            char **keys = realloc(j->keys, cap * sizeof *keys);
            size_t *kl = realloc(j->key_lens, cap * sizeof *kl);
            if (!items || !keys || !kl) die_oom();
            j->items = items; j->keys = keys; j->key_lens = kl;
        }
        j->keys[j->len] = key;
        j->key_lens[j->len] = klen;
        j->items[j->len++] = v;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == '}') { ps->p++; return j; }
        json_free(j);
        return fail(ps, "expected ',' or '}' in an object");
    }
}

static int match_word(Parser *ps, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) { ps->p += n; return 1; }
    return 0;
}

static Json *parse_value(Parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "unexpected end of line");
    if (++ps->depth > MAX_DEPTH) return fail(ps, "nested too deeply");
    const char *start = ps->p;
    Json *j = NULL;
    char c = *ps->p;
    if (c == '{') j = parse_object(ps);
    else if (c == '[') j = parse_array(ps);
    else if (c == '"') {
        size_t n;
        char *s = parse_string_raw(ps, &n);
        if (s) { j = new_json(J_STRING, start); j->str = s; j->len = n; }
    } else if (c == '-' || (c >= '0' && c <= '9')) j = parse_number(ps);
    else if (match_word(ps, "true")) j = new_json(J_TRUE, start);
    else if (match_word(ps, "false")) j = new_json(J_FALSE, start);
    else if (match_word(ps, "null")) j = new_json(J_NULL, start);
    else fail(ps, "unexpected character");
    ps->depth--;
    if (j) j->text_len = (size_t)(ps->p - start);
    return j;
}

static Json *json_parse(const char *text, size_t n, const char **error) {
    Parser ps = {text, text + n, NULL, 0};
    Json *j = parse_value(&ps);
    if (j) {
        skip_ws(&ps);
        if (ps.p != ps.end) { json_free(j); j = NULL; fail(&ps, "trailing characters after the JSON value"); }
    }
    *error = ps.error;
    return j;
}

static Json *get(const Json *obj, const char *key) {
    if (!obj || obj->type != J_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = obj->len; i-- > 0;)     /* the last of duplicate keys wins */
        if (obj->key_lens[i] == n && memcmp(obj->keys[i], key, n) == 0) return obj->items[i];
    return NULL;
}

static int is_string(const Json *j, const char *s) {
    return j && j->type == J_STRING && j->len == strlen(s) && memcmp(j->str, s, j->len) == 0;
}

/* ───────────────────────────────────── the ops ───────────────────────────────────── */

typedef enum {
    OP_VAR, OP_CONST,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG, OP_POW, OP_POWV, OP_EXP, OP_LOG, OP_SIN, OP_COS,
    OP_TAN, OP_TANH, OP_SIGMOID, OP_SQRT, OP_ATAN, OP_LOG1P, OP_EXPM1, OP_ABS, OP_RELU,
    OP_MAXIMUM, OP_MINIMUM, OP_ERF, OP_GELU, OP_GELU_TANH, OP_SILU, OP_SOFTPLUS,
    OP_LOGSIGMOID, OP_ELU, OP_LEAKY_RELU, OP_SINH, OP_COSH, OP_ASIN, OP_ACOS, OP_ASINH,
    OP_ATAN2, OP_HYPOT, OP_LOGADDEXP, OP_SQUARE, OP_RSQRT, OP_RECIPROCAL, OP_CLAMP,
    OP_COUNT
} Op;

static const struct { const char *name; int arity; } OPS[OP_COUNT] = {
    [OP_VAR] = {"var", 0}, [OP_CONST] = {"const", 0},
    [OP_ADD] = {"add", 2}, [OP_SUB] = {"sub", 2}, [OP_MUL] = {"mul", 2}, [OP_DIV] = {"div", 2},
    [OP_NEG] = {"neg", 1}, [OP_POW] = {"pow", 2}, [OP_POWV] = {"powv", 2}, [OP_EXP] = {"exp", 1},
    [OP_LOG] = {"log", 1}, [OP_SIN] = {"sin", 1}, [OP_COS] = {"cos", 1}, [OP_TAN] = {"tan", 1},
    [OP_TANH] = {"tanh", 1}, [OP_SIGMOID] = {"sigmoid", 1}, [OP_SQRT] = {"sqrt", 1},
    [OP_ATAN] = {"atan", 1}, [OP_LOG1P] = {"log1p", 1}, [OP_EXPM1] = {"expm1", 1},
    [OP_ABS] = {"abs", 1}, [OP_RELU] = {"relu", 1}, [OP_MAXIMUM] = {"maximum", 2},
    [OP_MINIMUM] = {"minimum", 2}, [OP_ERF] = {"erf", 1}, [OP_GELU] = {"gelu", 1},
    [OP_GELU_TANH] = {"gelu_tanh", 1}, [OP_SILU] = {"silu", 1}, [OP_SOFTPLUS] = {"softplus", 1},
    [OP_LOGSIGMOID] = {"logsigmoid", 1}, [OP_ELU] = {"elu", 1}, [OP_LEAKY_RELU] = {"leaky_relu", 2},
    [OP_SINH] = {"sinh", 1}, [OP_COSH] = {"cosh", 1}, [OP_ASIN] = {"asin", 1}, [OP_ACOS] = {"acos", 1},
    [OP_ASINH] = {"asinh", 1}, [OP_ATAN2] = {"atan2", 2}, [OP_HYPOT] = {"hypot", 2},
    [OP_LOGADDEXP] = {"logaddexp", 2}, [OP_SQUARE] = {"square", 1}, [OP_RSQRT] = {"rsqrt", 1},
    [OP_RECIPROCAL] = {"reciprocal", 1}, [OP_CLAMP] = {"clamp", 3},
};

/* The planted bug (--bug OP): one op's backward rule made wrong on purpose. */
static Op bug_op = OP_COUNT;   /* OP_COUNT: none */

static const double TWO_OVER_SQRT_PI = 1.12837916709551257390;   /* 2/√π */
static const double INV_SQRT_2PI = 0.39894228040143267794;       /* 1/√(2π) */
static const double SQRT1_2_HI = 0.70710678118654757274;         /* 1/√2 rounded */
static const double SQRT1_2_LO = -4.8336466567264567e-17;        /* 1/√2 - SQRT1_2_HI */
static const double GELU_TANH_K = 0.79788456080286535588;        /* √(2/π) */
static const double GELU_TANH_C = 0.044715;

/* σ(x) without overflow: e = exp(-|x|) ≤ 1. */
static double sigmoid(double x) {
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* σ'(x) = σ(x)(1 - σ(x)) = e / (1 + e)² with e = exp(-|x|): no cancellation at large |x|. */
static double sigmoid_prime(double x) {
    double e = exp(-fabs(x));
    double d = 1.0 + e;
    return e / d / d;
}

/* softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(e^-|x|) */
static double softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

/* exp(-x²·s) for s = 1 or 1/2, accurate when x² is large: x² = p + r exactly (fma), so
 * exp(-s·x²) = exp(-s·p)·exp(-s·r) with s·p exact and r tiny. */
static double exp_neg_sq(double x, double s) {
    double p = x * x;
    double e = exp(-s * p);
    if (e == 0.0) return 0.0;   /* also where x² overflows: then r is no small correction */
    double r = fma(x, x, -p);
    return e * exp(-s * r);
}

/* Φ(x) = erfc(-x/√2)/2, with x/√2 = zh + zl carried in two doubles: a first-order
 * correction for zl keeps Φ accurate in the far left tail. */
static double std_normal_cdf(double x) {
    double zh = x * SQRT1_2_HI;
    double zl = fma(x, SQRT1_2_HI, -zh) + x * SQRT1_2_LO;
    double v = erfc(-zh);
    if (zl != 0.0 && isfinite(zh)) v += zl * TWO_OVER_SQRT_PI * exp_neg_sq(zh, 1.0);
    return 0.5 * v;
}

static double std_normal_pdf(double x) { return INV_SQRT_2PI * exp_neg_sq(x, 0.5); }

/* a·b/c without spurious overflow or underflow in the intermediates. */
static double mul_div(double a, double b, double c) {
    if (a == 0 || b == 0 || !isfinite(a) || !isfinite(b) || !isfinite(c) || c == 0) return a * b / c;
    int ea, eb, ec;
    double ma = frexp(a, &ea), mb = frexp(b, &eb), mc = frexp(c, &ec);
    double m = ma * mb / mc;   /* in (1/8, 2): no range trouble */
    long e = (long)ea + eb - ec;
    if (e > 2000) e = 2000;
    if (e < -2000) e = -2000;
    return ldexp(m, (int)e);
}

/* x - y = hi + lo exactly (two-sum); lo = 0 where hi is not finite. */
static void two_diff(double x, double y, double *hi, double *lo) {
    double s = x - y;
    if (!isfinite(s)) { *hi = s; *lo = 0.0; return; }
    double bb = s - x;
    *hi = s;
    *lo = (x - (s - bb)) + (-y - bb);
}

/* logaddexp's pieces: with d = x - y exact in two doubles, e = exp(-|d|) accurate. */
static double logaddexp_e(double x, double y, int *x_larger) {
    double hi, lo;
    two_diff(x, y, &hi, &lo);
    *x_larger = hi > 0 || (hi == 0 && lo >= 0);
    double e = *x_larger ? exp(-hi) * exp(-lo) : exp(hi) * exp(lo);
    return e;
}

static double forward(Op op, const double *a) {
    double x = a[0], y = a[1];
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_NEG: return -x;
    case OP_POW: return pow(x, y);
    case OP_POWV: return pow(x, y);
    case OP_EXP: return exp(x);
    case OP_LOG: return log(x);
    case OP_SIN: return sin(x);
    case OP_COS: return cos(x);
    case OP_TAN: return tan(x);
    case OP_TANH: return tanh(x);
    case OP_SIGMOID: return sigmoid(x);
    case OP_SQRT: return sqrt(x);
    case OP_ATAN: return atan(x);
    case OP_LOG1P: return log1p(x);
    case OP_EXPM1: return expm1(x);
    case OP_ABS: return fabs(x);
    case OP_RELU: return x > 0 ? x : 0.0;
    case OP_MAXIMUM: return x >= y ? x : y;
    case OP_MINIMUM: return x <= y ? x : y;
    case OP_ERF: return erf(x);
    case OP_GELU: return x * std_normal_cdf(x);
    case OP_GELU_TANH: {
        /* x/2·(1 + tanh(u)) = x·σ(2u): no cancellation for negative x */
        double u = GELU_TANH_K * (x + GELU_TANH_C * x * x * x);
        return x * sigmoid(2.0 * u);
    }
    case OP_SILU: return x * sigmoid(x);
    case OP_SOFTPLUS: return softplus(x);
    case OP_LOGSIGMOID: return -softplus(-x);
    case OP_ELU: return x > 0 ? x : expm1(x);
    case OP_LEAKY_RELU: return x > 0 ? x : y * x;
    case OP_SINH: return sinh(x);
    case OP_COSH: return cosh(x);
    case OP_ASIN: return asin(x);
    case OP_ACOS: return acos(x);
    case OP_ASINH: return asinh(x);
    case OP_ATAN2: return atan2(x, y);
    case OP_HYPOT: return hypot(x, y);
    case OP_LOGADDEXP: {
        int xl;
        double e = logaddexp_e(x, y, &xl);
        return (xl ? x : y) + log1p(e);
    }
    case OP_SQUARE: return x * x;
    case OP_RSQRT: return 1.0 / sqrt(x);
    case OP_RECIPROCAL: return 1.0 / x;
    case OP_CLAMP: return fmin(fmax(x, a[1]), a[2]);
    default: return NAN;
    }
}

/* The local partials d op / d argument k at the arguments a and the value v. */
static void partials(Op op, const double *a, double v, double *d) {
    double x = a[0], y = a[1];
    d[0] = d[1] = d[2] = 0.0;
    switch (op) {
    case OP_ADD: d[0] = 1; d[1] = 1; break;
    case OP_SUB: d[0] = 1; d[1] = -1; break;
    case OP_MUL: d[0] = y; d[1] = x; break;
    case OP_DIV: d[0] = 1.0 / y; d[1] = -mul_div(1.0, x / y, y); break;   /* -x/y² */
    case OP_NEG: d[0] = -1; break;
    case OP_POW:
        /* c·x^(c-1); c - 1 is exact for c ≥ 1. Below, c·(x^c / x) keeps x^(c-1) out of
         * pow's argument reduction where c - 1 would round. */
        if (y == 0) d[0] = 0;
        else if (y >= 1) d[0] = y * pow(x, y - 1.0);
        else d[0] = y * (v / x);
        d[1] = x > 0 ? v * log(x) : 0.0;   /* never asked: c is a constant */
        break;
    case OP_POWV:
        if (y == 0) d[0] = 0;
        else if (y >= 1 || !(fabs(v) >= DBL_MIN) || isinf(v)) d[0] = y * pow(x, y - 1.0);
        else d[0] = mul_div(y, v, x);
        d[1] = v * log(x);
        break;
    case OP_EXP: d[0] = v; break;
    case OP_LOG: d[0] = 1.0 / x; break;
    case OP_SIN: d[0] = cos(x); break;
    case OP_COS: d[0] = -sin(x); break;
    case OP_TAN: d[0] = 1.0 + v * v; break;
    case OP_TANH: { double s = 1.0 / cosh(x); d[0] = s * s; break; }   /* sech², not 1 - tanh² */
    case OP_SIGMOID: d[0] = sigmoid_prime(x); break;
    case OP_SQRT: d[0] = 0.5 / v; break;
    case OP_ATAN:
        if (fabs(x) <= 1) d[0] = 1.0 / (1.0 + x * x);
        else { double r = 1.0 / x, t = r * r; d[0] = t / (1.0 + t); }
        break;
    case OP_LOG1P: d[0] = 1.0 / (1.0 + x); break;
    case OP_EXPM1: d[0] = exp(x); break;
    case OP_ABS: d[0] = x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; break;
    case OP_RELU: d[0] = x > 0 ? 1.0 : 0.0; break;
    case OP_MAXIMUM: d[0] = x > y ? 1.0 : x < y ? 0.0 : 0.5; d[1] = 1.0 - d[0]; break;
    case OP_MINIMUM: d[0] = x < y ? 1.0 : x > y ? 0.0 : 0.5; d[1] = 1.0 - d[0]; break;
    case OP_ERF: d[0] = TWO_OVER_SQRT_PI * exp_neg_sq(x, 1.0); break;
    case OP_GELU: d[0] = std_normal_cdf(x) + x * std_normal_pdf(x); break;
    case OP_GELU_TANH: {
        double x2 = x * x;
        double u = GELU_TANH_K * (x + GELU_TANH_C * x2 * x);
        double du = GELU_TANH_K * (1.0 + 3.0 * GELU_TANH_C * x2);
        double sp = sigmoid_prime(2.0 * u);
        d[0] = sigmoid(2.0 * u) + (sp == 0.0 ? 0.0 : 2.0 * x * sp * du);
        break;
    }
    case OP_SILU: d[0] = sigmoid(x) + x * sigmoid_prime(x); break;
    case OP_SOFTPLUS: d[0] = sigmoid(x); break;
    case OP_LOGSIGMOID: d[0] = sigmoid(-x); break;
    case OP_ELU: d[0] = x > 0 ? 1.0 : exp(x); break;
    case OP_LEAKY_RELU: d[0] = x > 0 ? 1.0 : y; d[1] = x > 0 ? 0.0 : x; break;
    case OP_SINH: d[0] = cosh(x); break;
    case OP_COSH: d[0] = sinh(x); break;
    case OP_ASIN: d[0] = 1.0 / sqrt((1.0 - x) * (1.0 + x)); break;
    case OP_ACOS: d[0] = -1.0 / sqrt((1.0 - x) * (1.0 + x)); break;
    case OP_ASINH: d[0] = 1.0 / hypot(1.0, x); break;
    case OP_ATAN2: {   /* atan2(y=a0, x=a1): d/dy = x/r², d/dx = -y/r² */
        double r = hypot(x, y);
        d[0] = (y / r) / r;
        d[1] = -(x / r) / r;
        break;
    }
    case OP_HYPOT: d[0] = x / v; d[1] = y / v; break;
    case OP_LOGADDEXP: {
        int xl;
        double e = logaddexp_e(x, y, &xl);
        double big = 1.0 / (1.0 + e), small = e / (1.0 + e);
        d[0] = xl ? big : small;
        d[1] = xl ? small : big;
        break;
    }
    case OP_SQUARE: d[0] = 2.0 * x; break;
    case OP_RSQRT: d[0] = -0.5 * (v / x); break;
    case OP_RECIPROCAL: d[0] = -(v * v); break;
    case OP_CLAMP: d[0] = (x >= a[1] && x <= a[2]) ? 1.0 : 0.0; break;
    default: break;
    }
    if (op == bug_op) {   /* the planted bugs */
        if (op == OP_SIGMOID) { double s = v; d[0] = s * (1.0 + s); }   /* should be s·(1 - s) */
        else if (op == OP_LOG) d[0] = 1.0 / (x * x);                    /* should be 1/x */
    }
}

/* ─────────────────────────────────── requests ─────────────────────────────────── */

typedef struct {
    Op op;
    int nargs;
    size_t args[3];
    double value;
    double adjoint;
    int var_index;   /* OP_VAR: index in `variables`, or -1 */
} Node;

static Buf out;

static void begin_answer(const Json *req) {
    out.len = 0;
    buf_puts(&out, "{\"id\": ");
    const Json *id = get(req, "id");
    if (id) buf_add(&out, id->start, id->text_len);
    else buf_puts(&out, "null");
}

static void send_line(void) {
    buf_puts(&out, "}\n");
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
}

/* An error answer; `line` is where in this file it was raised. */
static void send_error(const Json *req, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    begin_answer(req);
    buf_puts(&out, ", \"error\": ");
    buf_json_string(&out, msg, strlen(msg));
    buf_printf(&out, ", \"origin\": \"engine.c:%d\"", line);
    send_line();
    fprintf(stderr, "c-engine: error: %s\n", msg);
}

#define ERROR(...) do { send_error(req, __LINE__, __VA_ARGS__); goto done; } while (0)

static void answer_hello(const Json *req) {
    const Json *proto = get(req, "protocol");
    if (!proto || proto->type != J_NUMBER || proto->num != PROTOCOL) {
        send_error(req, __LINE__, "c-engine speaks protocol 1 only");
        return;
    }
    begin_answer(req);
    buf_printf(&out, ", \"protocol\": %d, \"name\": \"%s\", \"dtype\": \"float64\", \"ops\": [",
               PROTOCOL, ENGINE_NAME);
    for (int k = OP_ADD; k < OP_COUNT; k++)
        buf_printf(&out, "%s\"%s\"", k == OP_ADD ? "" : ", ", OPS[k].name);
    buf_puts(&out, "], \"capabilities\": {\"value\": true}");
    send_line();
}

static int as_index(const Json *j, size_t limit, size_t *out_index) {
    if (!j || j->type != J_NUMBER || !j->is_integer || j->num < 0 || j->num >= (double)limit) return 0;
    *out_index = (size_t)j->num;
    return 1;
}

static void answer_gradients(const Json *req) {
    Node *nodes = NULL;
    double *grads = NULL;
    const Json *vars = get(req, "variables"), *point = get(req, "point"), *expr = get(req, "expression");
    if (!vars || vars->type != J_ARRAY) ERROR("request: 'variables' must be a list of names");
    if (!point || point->type != J_OBJECT) ERROR("request: 'point' must be an object");
    if (!expr || expr->type != J_OBJECT) ERROR("request: 'expression' must be an object");
    for (size_t k = 0; k < vars->len; k++) {
        const Json *name = vars->items[k];
        if (name->type != J_STRING) ERROR("request: 'variables' must be a list of names");
        const Json *val = get(point, name->str);
        if (!val) ERROR("request: variable '%s' has no value in 'point'", name->str);
        if (val->type != J_NUMBER) ERROR("c-engine takes scalar checks only: variable '%s' is not a number", name->str);
    }
    const Json *list = get(expr, "nodes");
    if (!list || list->type != J_ARRAY || list->len == 0) ERROR("expression: 'nodes' must be a non-empty list");
    size_t n = list->len, output;
    if (!as_index(get(expr, "output"), n, &output)) ERROR("expression: 'output' must index 'nodes'");
    nodes = calloc(n, sizeof *nodes);
    grads = calloc(vars->len + 1, sizeof *grads);
    if (!nodes || !grads) die_oom();

    /* forward: every node once, in order */
    for (size_t i = 0; i < n; i++) {
        const Json *nd = list->items[i], *opj = get(nd, "op");
        Node *node = &nodes[i];
        if (!opj || opj->type != J_STRING) ERROR("expression: node %zu has no 'op'", i);
        int op = -1;
        for (int k = 0; k < OP_COUNT; k++)
            if (is_string(opj, OPS[k].name)) { op = k; break; }
        if (op < 0) ERROR("unknown op '%s' (node %zu)", opj->str, i);
        node->op = (Op)op;
        node->var_index = -1;
        if (op == OP_VAR) {
            const Json *name = get(nd, "name");
            if (!name || name->type != J_STRING) ERROR("expression: var node %zu has no 'name'", i);
            const Json *val = get(point, name->str);
            if (!val || val->type != J_NUMBER) ERROR("variable '%s' has no number in 'point'", name->str);
            node->value = val->num;
            for (size_t k = 0; k < vars->len; k++)
                if (vars->items[k]->len == name->len && memcmp(vars->items[k]->str, name->str, name->len) == 0) {
                    node->var_index = (int)k;
                    break;
                }
            continue;
        }
        if (op == OP_CONST) {
            const Json *val = get(nd, "value");
            if (!val || val->type != J_NUMBER) ERROR("expression: const node %zu has no numeric 'value'", i);
            node->value = val->num;
            continue;
        }
        const Json *args = get(nd, "args");
        if (!args || args->type != J_ARRAY || args->len != (size_t)OPS[op].arity)
            ERROR("expression: node %zu (%s) needs %d args", i, OPS[op].name, OPS[op].arity);
        double a[3] = {0, 0, 0};
        node->nargs = OPS[op].arity;
        for (int k = 0; k < node->nargs; k++) {
            if (!as_index(args->items[k], i, &node->args[k]))
                ERROR("expression: node %zu's args must index earlier nodes", i);
            a[k] = nodes[node->args[k]].value;
        }
        node->value = forward(node->op, a);
    }

    /* backward: adjoints accumulate with +=, in reverse order, from the output */
    nodes[output].adjoint = 1.0;
    for (size_t i = output + 1; i-- > 0;) {
        Node *node = &nodes[i];
        if (node->adjoint == 0.0) continue;   /* nothing flows from here (or unreachable) */
        if (node->op == OP_VAR) {
            if (node->var_index >= 0) grads[node->var_index] += node->adjoint;
            continue;
        }
        if (node->op == OP_CONST) continue;   /* constants are never differentiated */
        double a[3] = {0, 0, 0}, d[3];
        for (int k = 0; k < node->nargs; k++) a[k] = nodes[node->args[k]].value;
        partials(node->op, a, node->value, d);
        for (int k = 0; k < node->nargs; k++) {
            Node *arg = &nodes[node->args[k]];
            if (arg->op == OP_CONST) continue;
            arg->adjoint += node->adjoint * d[k];
        }
    }

    begin_answer(req);
    const Json *want_value = get(req, "value");
    if (want_value && want_value->type == J_TRUE) {
        buf_puts(&out, ", \"value\": ");
        buf_number(&out, nodes[output].value);
    }
    buf_puts(&out, ", \"gradients\": [");
    for (size_t k = 0; k < vars->len; k++) {
        if (k) buf_puts(&out, ", ");
        buf_number(&out, grads[k]);
    }
    buf_puts(&out, "]");
    send_line();
done:
    free(nodes);
    free(grads);
}

static void handle_line(const char *line, size_t n) {
    const char *perr = NULL;
    Json *req = json_parse(line, n, &perr);
    if (!req) {
        send_error(NULL, __LINE__, "malformed request: %s", perr ? perr : "not JSON");
        return;
    }
    if (req->type != J_OBJECT) {
        send_error(NULL, __LINE__, "malformed request: not a JSON object");
    } else {
        const Json *method = get(req, "method");
        if (is_string(method, "hello")) answer_hello(req);
        else if (is_string(method, "gradients")) answer_gradients(req);
        else if (method && method->type == J_STRING) send_error(req, __LINE__, "unsupported method '%s'", method->str);
        else send_error(req, __LINE__, "malformed request: no 'method'");
    }
    json_free(req);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bug") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            if (strcmp(name, "sigmoid") == 0) bug_op = OP_SIGMOID;
            else if (strcmp(name, "log") == 0) bug_op = OP_LOG;
            else { fprintf(stderr, "c-engine: --bug takes sigmoid or log, not '%s'\n", name); return 2; }
        } else {
            fprintf(stderr, "usage: %s [--bug sigmoid|log]\n", argv[0]);
            return 2;
        }
    }
    if (bug_op != OP_COUNT) fprintf(stderr, "c-engine: planted bug in %s's backward rule\n", OPS[bug_op].name);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) != -1) {
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        size_t start = 0;
        while (start < len && (line[start] == ' ' || line[start] == '\t')) start++;
        if (start == len) continue;   /* a blank line is no request */
        handle_line(line + start, len - start);
    }
    free(line);
    free(out.data);
    return 0;
}
