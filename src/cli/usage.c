/* The one way every command reports bad usage. */
#include <stdio.h>

#include "cli/cli.h"
#include "core/exit.h"

int cli_usage_error(const char *prefix, const char *usage, const char *fmt, const char *arg)
{
    fputs(prefix, stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return MOAT_EXIT_USAGE;
}
