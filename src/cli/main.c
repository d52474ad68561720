/* The `moat` command: dispatches `moat serve|get|ca|version|help` to the
 * module that implements each. */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "client/client.h"
#include "server/server.h"

#define MOAT_VERSION "0.1"

static const char help[] =
    "moat " MOAT_VERSION ": HTTPS from the handshake up\n"
    "\n"
    "usage: moat COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  serve DIR [--listen [ADDR:]PORT] [--cert FILE --key FILE]... [--ciphers LIST]\n"
    "            [--groups LIST]\n"
    "        serve the files of DIR over HTTPS (default 127.0.0.1:8443; without\n"
    "        --cert, a localhost certificate from the local CA)\n"
    "  get URL [--cacert FILE] [--crl FILE] [-k] [-o FILE] [-i] [-I] [-s] [-v]\n"
    "          [--resolve HOST:PORT:ADDR] [--tls-group NAME] [--ciphers LIST]\n"
    "          [--connect-timeout S] [-m S]\n"
    "        fetch an https:// URL and write the body to stdout\n"
    "  ca init|issue|path ...\n"
    "        the local certificate authority (moat ca help)\n"
    "  version\n"
    "        print the version\n"
    "  help\n"
    "        this text\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) return moat_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "get") == 0) return moat_get_main(argc - 1, argv + 1);
    if (strcmp(cmd, "ca") == 0) return moat_ca_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("moat %s\n", MOAT_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(help, stdout);
        return 0;
    }
    fprintf(stderr, "moat: unknown command '%s' (try: moat help)\n", cmd);
    return 2;
}
