/* moat get -K FILE / --config FILE: a curl config file read into the
 * arguments it stands for (cli/getconf.c). */
#ifndef MOAT_CLI_GETCONF_H
#define MOAT_CLI_GETCONF_H

#include <stddef.h>

/* A growing argument list; each string malloc'd. */
struct cli_args {
    char **v;
    int n, cap;
};

#define CLI_GETCONF_MAX_ARGS 4096
#define CLI_GETCONF_MAX_FILE (1u << 20)

/* Appends a copy of s. Returns 0 or -1 (out of memory, too many). */
int cli_args_add(struct cli_args *a, const char *s, size_t n);
void cli_args_free(struct cli_args *a);

/* The text of a config file, as curl reads it: one option a line, with
 * or without its leading dashes ("output file", "--output file",
 * "output = file", "output: file"; with dashes no '=' or ':'), its value
 * bare (up to white space) or in double quotes with the escapes \\ \" \t
 * \n \r \v (a backslash before anything else dropped); "url = URL" for
 * the URL; lines starting with '#' and empty ones skipped. takes_value
 * says whether an option ("--name" or "-x") takes a value. Appends
 * "--name", "value" (or the URL) to out. Returns 0, or -1 with "line N:
 * ..." in err. */
int cli_getconf_parse(const char *text, size_t len, int (*takes_value)(const char *),
                      struct cli_args *out, char *err, size_t errlen);

#endif
