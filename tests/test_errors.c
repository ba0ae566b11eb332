/*
 * test_errors.c -- the error table of core/ssa_error.h (compiled in: it is internal).
 *
 * Every error condition of the library goes through this table, so a wrong errno here is a
 * wrong errno everywhere.  Checked: each code has a name, a one-line text and the errno the
 * SPEC asks for (section 3); only SSA_E_NETWORK passes the system's errno through; and
 * ssa_error_format() never writes past the buffer it is given, however small.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ssa_error.h"

struct entry {
    enum ssa_error_code code;
    const char *name; /* the enumerator as spelled in the table */
    int err;          /* the errno the table gives it */
    const char *text;
};

static const struct entry table[] = {
#define T_ENTRY(code, e, text) {code, #code, e, text},
    SSA_ERROR_TABLE(T_ENTRY)
#undef T_ENTRY
};
#define NTABLE (sizeof table / sizeof table[0])

/* The errno values SPEC sections 2-3 fix, independently of the table. */
static const struct {
    enum ssa_error_code code;
    int err;
} required[] = {
    {SSA_E_OPTION_UNKNOWN, ENOPROTOOPT},  /* unknown option */
    {SSA_E_OPTION_DIRECTION, ENOPROTOOPT}, /* wrong direction */
    {SSA_E_OPTION_LENGTH, EINVAL},        /* bad length */
    {SSA_E_OPTION_VALUE, EINVAL},         /* bad value */
    {SSA_E_PHASE_CONNECTED, EISCONN},     /* set after connect */
    {SSA_E_PHASE_WRONG, EOPNOTSUPP},      /* on a listener or accepted socket */
    {SSA_E_POLICY_FORBIDS, EPERM},        /* weaker than the policy */
    {SSA_E_HANDSHAKE, EPROTO},            /* TLS failure */
    {SSA_E_VERIFY, EPROTO},               /* certificate failure */
    {SSA_E_TIMEOUT, ETIMEDOUT},
    {SSA_E_FAMILY, EAFNOSUPPORT},
    {SSA_E_NOT_CONNECTED, ENOTCONN},
    {SSA_E_ALREADY, EALREADY},
    {SSA_E_ISCONN, EISCONN},
};

static void test_table_complete(void)
{
    T_CHECK(NTABLE == SSA_E_COUNT, "%zu entries for %d codes", NTABLE, (int)SSA_E_COUNT);
    for (size_t i = 0; i < NTABLE; i++)
        T_CHECK(table[i].code == (enum ssa_error_code)i, "%s is code %d at index %zu",
                table[i].name, (int)table[i].code, i);
}

static void test_every_code_described(void)
{
    for (size_t i = 0; i < NTABLE; i++) {
        const struct entry *e = &table[i];
        const char *text = ssa_error_text(e->code);
        const char *name = ssa_error_name(e->code);

        T_CHECK(text != NULL && text[0] != '\0', "%s: empty text", e->name);
        T_CHECK(text != NULL && strcmp(text, e->text) == 0, "%s: text \"%s\", table \"%s\"",
                e->name, text ? text : "(null)", e->text);
        /* TLS_ERROR is one line: no newline, and room left for details. */
        T_CHECK(text != NULL && strchr(text, '\n') == NULL, "%s: text has a newline", e->name);
        T_CHECK(text != NULL && strlen(text) < SSA_ERROR_MAX / 2, "%s: text too long", e->name);
        T_CHECK(name != NULL && strcmp(name, e->name) == 0, "code %zu is named \"%s\", not %s",
                i, name ? name : "(null)", e->name);
    }
}

static void test_errno_only_network_is_zero(void)
{
    for (size_t i = 0; i < NTABLE; i++) {
        const struct entry *e = &table[i];
        int err = ssa_error_errno(e->code);

        T_CHECK(err == e->err, "%s: ssa_error_errno %s, table %s", e->name, t_errname(err),
                t_errname(e->err));
        if (e->code == SSA_E_NETWORK)
            T_CHECK(err == 0, "SSA_E_NETWORK must keep the system errno, has %s",
                    t_errname(err));
        else
            T_CHECK(err != 0, "%s has errno 0: only SSA_E_NETWORK may", e->name);
    }
}

static void test_required_errnos(void)
{
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        int err = ssa_error_errno(required[i].code);

        if (!t_errno_is(required[i].err, err))
            t_note("for %s", ssa_error_name(required[i].code));
    }
}

static void test_texts_distinct(void)
{
    /* Two conditions with one text could not be told apart in TLS_ERROR. */
    for (size_t i = 0; i < NTABLE; i++)
        for (size_t j = i + 1; j < NTABLE; j++)
            T_CHECK(strcmp(table[i].text, table[j].text) != 0, "%s and %s share \"%s\"",
                    table[i].name, table[j].name, table[i].text);
}

static void test_out_of_range_code(void)
{
    enum ssa_error_code bad = (enum ssa_error_code)SSA_E_COUNT;
    enum ssa_error_code negative = (enum ssa_error_code)-1;

    t_errno_is(EINVAL, ssa_error_errno(bad));
    t_errno_is(EINVAL, ssa_error_errno(negative));
    T_CHECK(ssa_error_text(bad) != NULL && ssa_error_text(bad)[0] != '\0', "no text");
    T_CHECK(ssa_error_name(negative) != NULL, "no name");
}

static void test_format_returns_errno(void)
{
    char buf[SSA_ERROR_MAX];

    for (size_t i = 0; i < NTABLE; i++) {
        int want = table[i].err != 0 ? table[i].err : ECONNREFUSED;
        int got = ssa_error_format(buf, sizeof buf, table[i].code, ECONNREFUSED, NULL);

        if (!t_errno_is(want, got))
            t_note("for %s", table[i].name);
    }
    /* A network error without a system errno still reports a failure, never 0. */
    int got = ssa_error_format(buf, sizeof buf, SSA_E_NETWORK, 0, NULL);
    T_CHECK(got != 0, "SSA_E_NETWORK with errno 0 returned 0");
    /* The system errno is ignored for codes that have their own. */
    t_errno_is(EPROTO, ssa_error_format(buf, sizeof buf, SSA_E_VERIFY, ECONNRESET, NULL));
}

static void test_format_text(void)
{
    char buf[SSA_ERROR_MAX], want[SSA_ERROR_MAX];

    ssa_error_format(buf, sizeof buf, SSA_E_VERIFY, 0, "%s (%s)", "expired", "example.test");
    snprintf(want, sizeof want, "%s: expired (example.test)", ssa_error_text(SSA_E_VERIFY));
    T_CHECK(strcmp(buf, want) == 0, "\"%s\", expected \"%s\"", buf, want);
    ssa_error_format(buf, sizeof buf, SSA_E_NOT_CONNECTED, 0, NULL);
    T_CHECK(strcmp(buf, ssa_error_text(SSA_E_NOT_CONNECTED)) == 0, "\"%s\" without details",
            buf);
}

#define GUARD 16
#define CANARY 0x5a

/*
 * Formats into a buffer of `size` bytes sitting between guard zones; checks the guards are
 * untouched, the result is NUL-terminated (size > 0), is a prefix of the full text and holds
 * at least as much of the fixed text as fits (a dangling ": " may be left out).
 */
static void check_truncation(enum ssa_error_code code, size_t size, const char *details)
{
    char full[1024], area[GUARD + 1024 + GUARD];
    char *buf = area + GUARD;

    if (details)
        ssa_error_format(full, sizeof full, code, EIO, "%s", details);
    else
        ssa_error_format(full, sizeof full, code, EIO, NULL);
    memset(area, CANARY, sizeof area);
    if (details)
        ssa_error_format(buf, size, code, EIO, "%s", details);
    else
        ssa_error_format(buf, size, code, EIO, NULL);
    for (size_t i = 0; i < GUARD; i++)
        T_CHECK(area[i] == CANARY, "%s size %zu: wrote before the buffer", ssa_error_name(code),
                size);
    for (size_t i = size; i < size + GUARD; i++)
        T_CHECK((unsigned char)buf[i] == CANARY, "%s size %zu: wrote byte %zu past the end",
                ssa_error_name(code), size, i);
    if (size == 0)
        return;
    size_t len = strnlen(buf, size);
    size_t text_len = strlen(ssa_error_text(code));
    size_t least = text_len < size - 1 ? text_len : size - 1;
    if (!T_CHECK(len < size, "%s size %zu: not NUL-terminated", ssa_error_name(code), size))
        return;
    T_CHECK(len >= least && len <= strlen(full) && memcmp(buf, full, len) == 0,
            "%s size %zu: \"%s\" is not a prefix of \"%s\" of at least %zu bytes",
            ssa_error_name(code), size, buf, full, least);
    /* Whatever fits of the details is there once the separator fits too. */
    if (details && size > text_len + 3)
        T_CHECK(len == (strlen(full) < size - 1 ? strlen(full) : size - 1),
                "%s size %zu: details cut short: \"%s\"", ssa_error_name(code), size, buf);
}

static void test_format_tiny_buffers(void)
{
    static const size_t sizes[] = {0, 1, 2, 5};

    for (size_t i = 0; i < NTABLE; i++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            check_truncation(table[i].code, sizes[k], NULL);
            check_truncation(table[i].code, sizes[k], "some details");
        }
}

static void test_format_every_size(void)
{
    /* Around the boundaries: end of the text, the ": " separator, the end of the details. */
    char details[300];

    memset(details, 'd', sizeof details - 1);
    details[sizeof details - 1] = '\0';
    for (size_t i = 0; i < NTABLE; i++) {
        size_t n = strlen(table[i].text);

        for (size_t size = 0; size < n + 16; size++)
            check_truncation(table[i].code, size, "x");
    }
    for (size_t size = 0; size <= SSA_ERROR_MAX + 8; size++)
        check_truncation(SSA_E_FILE, size, details);
}

int main(void)
{
    t_run("table has one entry per code, in order", test_table_complete);
    t_run("every code has a name and a one-line text", test_every_code_described);
    t_run("errno is 0 only for SSA_E_NETWORK", test_errno_only_network_is_zero);
    t_run("errnos required by the SPEC", test_required_errnos);
    t_run("texts are distinct", test_texts_distinct);
    t_run("out-of-range codes are handled", test_out_of_range_code);
    t_run("ssa_error_format returns the errno", test_format_returns_errno);
    t_run("ssa_error_format text and details", test_format_text);
    t_run("ssa_error_format into buffers of 0, 1, 2, 5 bytes", test_format_tiny_buffers);
    t_run("ssa_error_format at every size near the boundaries", test_format_every_size);
    return t_done();
}
