/* The error table: errno and text of every error condition of the project. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "ssa_error.h"

struct ssa_error_entry {
	const char *name;
	int err;
	const char *text;
};

static const struct ssa_error_entry ssa_errors[SSA_E_COUNT] = {
#define SSA_ERROR_ENTRY(code, e, t) [code] = {#code, e, t},
    SSA_ERROR_TABLE(SSA_ERROR_ENTRY)
#undef SSA_ERROR_ENTRY
};

int ssa_error_errno(enum ssa_error_code code)
{
	return (unsigned)code < SSA_E_COUNT ? ssa_errors[code].err : EINVAL;
}

const char *ssa_error_text(enum ssa_error_code code)
{
	return (unsigned)code < SSA_E_COUNT ? ssa_errors[code].text : "unknown error";
}

const char *ssa_error_name(enum ssa_error_code code)
{
	return (unsigned)code < SSA_E_COUNT ? ssa_errors[code].name : "SSA_E_?";
}

int ssa_error_format(char *buf, size_t size, enum ssa_error_code code, int sys_errno,
		     const char *fmt, ...)
{
	int err = ssa_error_errno(code);
	int n = snprintf(buf, size, "%s", ssa_error_text(code));

	if (fmt != NULL && n >= 0 && (size_t)n + 2 < size) {
		va_list ap;

		buf[n++] = ':';
		buf[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(buf + n, size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (err == 0)
		err = sys_errno != 0 ? sys_errno : EIO;
	return err;
}
